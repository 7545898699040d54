package whep

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/dalaba/dalaba/edge/relay"
	"github.com/dalaba/dalaba/internal/testenv"
	"github.com/dalaba/dalaba/protocol"
)

// viewersEnv makes the test binary a process of WebRTC viewers for
// BenchmarkViewerCPU (TestHelperViewers): their CPU is not the box's.
const viewersEnv = "DALABA_BENCH_VIEWERS"

// BenchmarkViewerCPU measures what a WebRTC viewer costs the box, the way
// MediaMTX is compared: one camera (a dalaba-sim process looping a 1080p25
// H.264 clip at about 4 Mbit/s, its packets as gortsplib cuts them) pulled
// by the relay, and N viewers in a process of their own; this process's
// CPU with N viewers less its CPU with the camera pulled and none, per
// viewer (cpu-%-per-viewer of one core), and the packets each viewer gets
// a second.
func BenchmarkViewerCPU(b *testing.B) {
	if testenv.Race {
		b.Skip("CPU under the race detector says nothing of the box; make bench measures it")
	}
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
	const viewers = 8
	var perViewer, pps, mbps float64
	for b.Loop() {
		camURL := simCamera(b, simBin, clip)
		rl, err := relay.New(relay.Config{Listen: "127.0.0.1:0", Linger: time.Minute}, relay.Deps{})
		if err != nil {
			b.Fatal(err)
		}
		// Always on: pulled with nobody watching, for the baseline.
		if err := rl.SetCameras([]relay.Camera{{ID: "cam1", URL: camURL, AlwaysOn: true, AllowLocal: true}}); err != nil {
			b.Fatal(err)
		}
		testenv.Background(b, wait, "relay", rl.Run)
		srv, err := New(Config{Loopback: true}, Deps{Source: rl})
		if err != nil {
			b.Fatal(err)
		}
		srvRun := testenv.Background(b, wait, "whep", srv.Run)
		waitFor(b, "the server runs", srv.reg.Running)

		time.Sleep(time.Second)
		idle := cpuOver(5 * time.Second)

		child := startViewers(b, viewers, srv, func(i int) protocol.WHEPArgs {
			return protocol.WHEPArgs{Camera: "cam1", Viewer: fmt.Sprint("v", i)}
		})
		time.Sleep(2 * time.Second) // connected, past the keyframe
		start := child.counts()
		busy := cpuOver(5 * time.Second)
		end := child.counts()
		if end.packets == start.packets {
			b.Fatal("the viewers received nothing")
		}
		perViewer = (busy - idle) / viewers
		pps = float64(end.packets-start.packets) / end.at.Sub(start.at).Seconds() / viewers
		mbps = float64(end.bytes-start.bytes) * 8 / end.at.Sub(start.at).Seconds() / 1e6 / viewers
		child.stop()
		srvRun.Stop()
	}
	b.ReportMetric(perViewer, "cpu-%-per-viewer")
	b.ReportMetric(pps, "packets/s-per-viewer")
	b.ReportMetric(mbps, "Mbit/s-per-viewer")
}

// BenchmarkGrid measures the box with a village's grid open: 8 cameras
// (dalaba-sim processes, each a 1080p25 main stream at about 4 Mbit/s and
// a 640x360 sub stream at about 0.6 Mbit/s), each watched by a grid tile
// on its sub stream and by one full view on its main stream, the 16
// viewers in a process of their own: this process's CPU (relay and WebRTC,
// % of one core), its heap after a GC and its resident memory.
func BenchmarkGrid(b *testing.B) {
	if testenv.Race {
		b.Skip("CPU under the race detector says nothing of the box; make bench measures it")
	}
	ffmpeg := testenv.Tool(b, "ffmpeg", "apt-get install ffmpeg")
	dir := b.TempDir()
	mainClip, subClip := filepath.Join(dir, "main.h264"), filepath.Join(dir, "sub.h264")
	for _, c := range []struct{ file, size, rate string }{{mainClip, "1920x1080", "4M"}, {subClip, "640x360", "600k"}} {
		gen := exec.Command(ffmpeg, "-v", "error", "-f", "lavfi", "-i", "testsrc2=size="+c.size+":rate=25", "-t", "4",
			"-c:v", "libx264", "-preset", "ultrafast", "-profile:v", "high", "-b:v", c.rate, "-maxrate", c.rate, "-bufsize", c.rate,
			"-g", "50", "-bf", "0", "-pix_fmt", "yuv420p", "-x264-params", "repeat-headers=1", "-f", "h264", c.file)
		if out, err := gen.CombinedOutput(); err != nil {
			b.Fatalf("ffmpeg: %v\n%s", err, out)
		}
	}
	simBin := filepath.Join(dir, "dalaba-sim")
	if out, err := exec.Command("go", "build", "-o", simBin, "github.com/dalaba/dalaba/cmd/dalaba-sim").CombinedOutput(); err != nil {
		b.Fatalf("building dalaba-sim: %v\n%s", err, out)
	}
	const cams = 8
	var cpu, heap, rss, mbps float64
	for b.Loop() {
		rl, err := relay.New(relay.Config{Listen: "127.0.0.1:0", Linger: time.Minute, MaxReaders: 64}, relay.Deps{})
		if err != nil {
			b.Fatal(err)
		}
		var rcs []relay.Camera
		var pcs []protocol.Camera
		for i := range cams {
			u := simCamera(b, simBin, mainClip, "--sub-clip", subClip)
			id := fmt.Sprint("cam", i)
			rcs = append(rcs, relay.Camera{ID: id, URL: u, SubURL: u + "/sub", AllowLocal: true})
			pcs = append(pcs, protocol.Camera{ID: id, URL: u, SubURL: u + "/sub"})
		}
		if err := rl.SetCameras(rcs); err != nil {
			b.Fatal(err)
		}
		relayRun := testenv.Background(b, wait, "relay", rl.Run)
		srv, err := New(Config{Loopback: true, MaxSessions: 2 * cams}, Deps{Source: rl})
		if err != nil {
			b.Fatal(err)
		}
		srv.SetCameras(protocol.Cameras{Cameras: pcs})
		srvRun := testenv.Background(b, wait, "whep", srv.Run)
		waitFor(b, "the server runs", srv.reg.Running)
		child := startViewers(b, 2*cams, srv, func(i int) protocol.WHEPArgs {
			stream := protocol.StreamSub
			if i%2 == 1 {
				stream = protocol.StreamMain
			}
			return protocol.WHEPArgs{Camera: fmt.Sprint("cam", i/2), Stream: stream, Viewer: fmt.Sprint("v", i)}
		})
		time.Sleep(2 * time.Second)
		start := child.counts()
		cpu = cpuOver(5 * time.Second)
		end := child.counts()
		if end.packets == start.packets {
			b.Fatal("the viewers received nothing")
		}
		mbps = float64(end.bytes-start.bytes) * 8 / end.at.Sub(start.at).Seconds() / 1e6
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		heap = float64(ms.HeapAlloc) / (1 << 20)
		rss = residentMB()
		child.stop()
		srvRun.Stop()
		relayRun.Stop()
	}
	b.ReportMetric(cpu, "cpu-%")
	b.ReportMetric(heap, "heap-MB")
	b.ReportMetric(rss, "rss-MB")
	b.ReportMetric(mbps, "Mbit/s-sent")
}

// residentMB is this process's resident set, from /proc.
func residentMB() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return float64(kb) / 1024
		}
	}
	return 0
}

// cpuOver is this process's CPU over d, in % of one core.
func cpuOver(d time.Duration) float64 {
	cpu := func() time.Duration {
		var ru syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
			return 0
		}
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	c0, t0 := cpu(), time.Now()
	time.Sleep(d)
	return float64(cpu()-c0) / float64(time.Since(t0)) * 100
}

// simCamera runs `dalaba-sim camera` on clip (and more flags) and returns
// its URL.
func simCamera(b *testing.B, bin, clip string, flags ...string) string {
	b.Helper()
	cmd := exec.Command(bin, append([]string{"camera", "--listen", "127.0.0.1:0", "--clip", clip, "--stats-interval", "0"}, flags...)...)
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

// viewerProc is the helper process of viewers.
type viewerProc struct {
	cmd *exec.Cmd
	in  *json.Encoder
	out *bufio.Scanner
}

type viewerCounts struct {
	packets, bytes int64
	at             time.Time
}

// startViewers starts n viewers in a helper process and answers their
// offers through srv, the i-th for what args(i) says.
func startViewers(b *testing.B, n int, srv *Server, args func(i int) protocol.WHEPArgs) *viewerProc {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperViewers$")
	cmd.Env = append(os.Environ(), viewersEnv+"="+strconv.Itoa(n))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	p := &viewerProc{cmd: cmd, in: json.NewEncoder(stdin), out: bufio.NewScanner(stdout)}
	p.out.Buffer(make([]byte, 1<<20), 1<<20)
	b.Cleanup(p.stop)
	for i := range n {
		if !p.out.Scan() {
			b.Fatalf("viewer %d: no offer", i)
		}
		var offer string
		if err := json.Unmarshal(p.out.Bytes(), &offer); err != nil {
			b.Fatal(err)
		}
		a := args(i)
		a.Offer = offer
		res, err := srv.Answer(b.Context(), a)
		if err != nil {
			b.Fatal(err)
		}
		if err := p.in.Encode(res.Answer); err != nil {
			b.Fatal(err)
		}
	}
	return p
}

// counts asks the viewers what they received so far.
func (p *viewerProc) counts() viewerCounts {
	if err := p.in.Encode("count"); err != nil || !p.out.Scan() {
		return viewerCounts{}
	}
	var c [2]int64
	if err := json.Unmarshal(p.out.Bytes(), &c); err != nil {
		return viewerCounts{}
	}
	return viewerCounts{packets: c[0], bytes: c[1], at: time.Now()}
}

func (p *viewerProc) stop() {
	if p.cmd.Process != nil {
		_ = p.cmd.Process.Kill()
		_ = p.cmd.Wait()
	}
}

// TestHelperViewers is not a test: run by BenchmarkViewerCPU with
// DALABA_BENCH_VIEWERS=n, it is n WebRTC viewers that print their offers
// (JSON lines), read the answers, and answer "count" with the RTP packets
// and bytes received so far.
func TestHelperViewers(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv(viewersEnv))
	if n == 0 {
		t.Skip("the viewers of BenchmarkViewerCPU, run by it")
	}
	var packets, bytes atomic.Int64
	in := json.NewDecoder(os.Stdin)
	out := json.NewEncoder(os.Stdout)
	for range n {
		m := &webrtc.MediaEngine{}
		if err := m.RegisterDefaultCodecs(); err != nil {
			t.Fatal(err)
		}
		pc := newLoopbackPeer(t, m)
		pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
			buf := make([]byte, 1500)
			for {
				k, _, err := tr.Read(buf)
				if err != nil {
					return
				}
				packets.Add(1)
				bytes.Add(int64(k))
			}
		})
		if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			t.Fatal(err)
		}
		offer, err := pc.CreateOffer(nil)
		if err != nil {
			t.Fatal(err)
		}
		gathered := webrtc.GatheringCompletePromise(pc)
		if err := pc.SetLocalDescription(offer); err != nil {
			t.Fatal(err)
		}
		<-gathered
		if err := out.Encode(pc.LocalDescription().SDP); err != nil {
			t.Fatal(err)
		}
		var answer string
		if err := in.Decode(&answer); err != nil {
			t.Fatal(err)
		}
		if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
			t.Fatal(err)
		}
	}
	for {
		var cmd string
		if err := in.Decode(&cmd); err != nil {
			return // the benchmark is done with us
		}
		if err := out.Encode([2]int64{packets.Load(), bytes.Load()}); err != nil {
			return
		}
	}
}

// newLoopbackPeer is a viewer's PeerConnection on loopback.
func newLoopbackPeer(t *testing.T, m *webrtc.MediaEngine) *webrtc.PeerConnection {
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetInterfaceFilter(func(name string) bool { return name == "lo" })
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	pc, err := webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithSettingEngine(se)).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	return pc
}
