package relay

import (
	"bufio"
	"fmt"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/pion/rtp"

	"github.com/dalaba/dalaba/internal/testenv"
)

// BenchmarkRelay1080p measures what relaying costs the box: cameras are
// separate dalaba-sim processes looping a 1080p25 H.264 clip at about
// 4 Mbit/s, readers are light RTSP clients in this process. Each case is
// measured twice, readers pulling straight from the cameras and through
// the relay, and the difference in this process's CPU time and heap is the
// relay's: cpu-% of one core and heap-MB for the whole case.
func BenchmarkRelay1080p(b *testing.B) {
	ffmpeg := testenv.Tool(b, "ffmpeg", "apt-get install ffmpeg")
	dir := b.TempDir()
	clip := filepath.Join(dir, "1080p.h264")
	gen := exec.Command(ffmpeg, "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=25", "-t", "4",
		"-c:v", "libx264", "-preset", "ultrafast", "-profile:v", "high", "-b:v", "4M", "-maxrate", "4M", "-bufsize", "2M",
		"-g", "25", "-bf", "0", "-pix_fmt", "yuv420p", "-x264-params", "repeat-headers=1", "-f", "h264", clip)
	if out, err := gen.CombinedOutput(); err != nil {
		b.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	simBin := filepath.Join(dir, "dalaba-sim")
	if out, err := exec.Command("go", "build", "-o", simBin, "github.com/dalaba/dalaba/cmd/dalaba-sim").CombinedOutput(); err != nil {
		b.Fatalf("building dalaba-sim: %v\n%s", err, out)
	}
	cases := []struct{ cams, readers int }{{1, 1}, {4, 1}, {1, 8}}
	if testenv.Race {
		cases = cases[:1] // make test proves it runs; CPU under the race detector says nothing of the box
	}
	for _, c := range cases {
		b.Run(fmt.Sprintf("%dcam-%dreader", c.cams, c.readers), func(b *testing.B) {
			var cpu, heap, mbps float64
			for b.Loop() {
				urls := make([]string, c.cams)
				for i := range urls {
					urls[i] = startSimProcess(b, simBin, clip)
				}
				direct := measureReaders(b, c.readers, urls)
				cams := make([]Camera, c.cams)
				for i := range cams {
					cams[i] = Camera{ID: fmt.Sprintf("cam%d", i), URL: urls[i], AllowLocal: true}
				}
				cfg := quick()
				cfg.Linger = time.Minute
				r := startRelayQuiet(b, cfg, cams...)
				relayedURLs := make([]string, c.cams)
				for i := range relayedURLs {
					relayedURLs[i] = r.URL(fmt.Sprintf("cam%d", i))
				}
				relayed := measureReaders(b, c.readers, relayedURLs)
				r.Stop()
				cpu = (relayed.cpu - direct.cpu).Seconds() / relayed.wall.Seconds() * 100
				heap = float64(relayed.heap-direct.heap) / (1 << 20)
				mbps = float64(relayed.bytes) * 8 / relayed.wall.Seconds() / 1e6 / float64(c.cams*c.readers)
			}
			b.ReportMetric(cpu, "relay-cpu-%")
			b.ReportMetric(heap, "relay-heap-MB")
			b.ReportMetric(mbps, "Mbit/s-per-reader")
		})
	}
}

// startRelayQuiet is startRelay without the debug log.
func startRelayQuiet(b *testing.B, cfg Config, cams ...Camera) *running {
	b.Helper()
	r, err := New(cfg, Deps{})
	if err != nil {
		b.Fatal(err)
	}
	if err := r.SetCameras(cams); err != nil {
		b.Fatal(err)
	}
	return &running{Relay: r, Running: testenv.Background(b, waitRelay, "relay", r.Run), ev: &events{}}
}

// startSimProcess runs `dalaba-sim camera` on clip and returns its URL.
func startSimProcess(b *testing.B, bin, clip string) string {
	b.Helper()
	cmd := exec.Command(bin, "camera", "--listen", "127.0.0.1:0", "--clip", clip)
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		b.Fatalf("dalaba-sim camera printed no address: %v", err)
	}
	for f := range strings.FieldsSeq(line) {
		if strings.HasPrefix(f, "rtsp://") {
			return f
		}
	}
	b.Fatalf("no rtsp:// URL in %q", line)
	return ""
}

type measured struct {
	cpu, wall time.Duration
	heap      int64
	bytes     int64
}

// measureReaders plays readers per camera URL for 3 s after a second of
// warm-up, and measures this process meanwhile.
func measureReaders(b *testing.B, readers int, urls []string) measured {
	b.Helper()
	var n atomic.Int64
	var clients []*gortsplib.Client
	for _, u := range urls {
		for range readers {
			clients = append(clients, playCounting(b, u, &n))
		}
	}
	time.Sleep(time.Second)
	startCPU, start, startBytes := cpuTime(), time.Now(), n.Load()
	time.Sleep(3 * time.Second)
	m := measured{cpu: cpuTime() - startCPU, wall: time.Since(start), bytes: n.Load() - startBytes}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	m.heap = int64(ms.HeapAlloc)
	for _, c := range clients {
		c.Close()
	}
	if m.bytes == 0 {
		b.Fatal("the readers received nothing")
	}
	return m
}

// playCounting plays rawURL over TCP and counts the RTP bytes it gets.
func playCounting(b *testing.B, rawURL string, n *atomic.Int64) *gortsplib.Client {
	b.Helper()
	u, err := base.ParseURL(rawURL)
	if err != nil {
		b.Fatal(err)
	}
	proto := gortsplib.ProtocolTCP
	c := &gortsplib.Client{Scheme: u.Scheme, Host: u.Host, Protocol: &proto, ReadTimeout: 10 * time.Second}
	if err := c.Start(); err != nil {
		b.Fatal(err)
	}
	desc, _, err := c.Describe(u)
	if err != nil {
		c.Close()
		b.Fatalf("describe %s: %v", rawURL, err)
	}
	if err := c.SetupAll(desc.BaseURL, desc.Medias); err != nil {
		c.Close()
		b.Fatal(err)
	}
	c.OnPacketRTPAny(func(_ *description.Media, _ format.Format, p *rtp.Packet) { n.Add(int64(len(p.Payload))) })
	if _, err := c.Play(nil); err != nil {
		c.Close()
		b.Fatal(err)
	}
	b.Cleanup(c.Close)
	return c
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
