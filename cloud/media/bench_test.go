package media

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dalaba/dalaba/cloud/store/boltstore"
)

// clipStream is a 44.1 kHz mono 16-bit WAV file of size bytes, made as it
// is read, so that a client can upload many large clips without holding
// them. Its samples are a block of noise repeated, each repeat stamped
// with seed and its number, so clips of different seeds differ.
type clipStream struct {
	size, off int64
	seed      uint32
	hdr       []byte
	noise     []byte
}

const noiseBlock = 64 << 10

func newClipStream(size int64, seed uint32) *clipStream {
	hdr := make([]byte, 44)
	le := binary.LittleEndian
	dataLen := uint32(size - 44)
	copy(hdr[0:], "RIFF")
	le.PutUint32(hdr[4:], 36+dataLen)
	copy(hdr[8:], "WAVEfmt ")
	le.PutUint32(hdr[16:], 16)
	le.PutUint16(hdr[20:], 1)
	le.PutUint16(hdr[22:], 1)
	le.PutUint32(hdr[24:], 44100)
	le.PutUint32(hdr[28:], 44100*2)
	le.PutUint16(hdr[32:], 2)
	le.PutUint16(hdr[34:], 16)
	copy(hdr[36:], "data")
	le.PutUint32(hdr[40:], dataLen)
	noise := make([]byte, noiseBlock)
	x := uint32(2463534242)
	for i := range noise {
		x ^= x << 13 // xorshift: cheap noise
		x ^= x >> 17
		x ^= x << 5
		noise[i] = byte(x)
	}
	return &clipStream{size: size, seed: seed, hdr: hdr, noise: noise}
}

func (c *clipStream) Read(p []byte) (int, error) {
	if c.off >= c.size {
		return 0, io.EOF
	}
	if c.off < 44 {
		n := copy(p, c.hdr[c.off:])
		c.off += int64(n)
		return n, nil
	}
	// Within one repeat of the block, which starts at byte 44.
	pos := (c.off - 44) % noiseBlock
	n := copy(p[:min(int64(len(p)), c.size-c.off)], c.noise[pos:])
	if pos < 8 { // the stamp: seed and repeat number
		var stamp [8]byte
		binary.LittleEndian.PutUint32(stamp[0:], c.seed)
		binary.LittleEndian.PutUint32(stamp[4:], uint32((c.off-44)/noiseBlock))
		copy(p[:n], stamp[pos:])
	}
	c.off += int64(n)
	return n, nil
}

// uploadServer is an HTTP server that hands each POST's body to Put, as
// the township's API does, and answers with the stored clip's sha256.
func uploadServer(tb testing.TB, lib *Library) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m, err := lib.Put(r.Context(), r.URL.Query().Get("name"), http.MaxBytesReader(w, r.Body, lib.MaxBytes()+1), "bench")
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		_, _ = io.WriteString(w, m.SHA256) // the client may have gone
	}))
	tb.Cleanup(srv.Close)
	return srv
}

func postClip(ctx context.Context, url, name string, body io.Reader) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, "POST", url+"?name="+name, body)
	if err != nil {
		return 0, "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// peakMemory samples the heap in use until stop is closed and returns its
// peak.
func peakMemory(stop <-chan struct{}) (peak uint64) {
	t := time.NewTicker(2 * time.Millisecond)
	defer t.Stop()
	var ms runtime.MemStats
	for {
		runtime.ReadMemStats(&ms)
		peak = max(peak, ms.HeapInuse)
		select {
		case <-stop:
			return peak
		case <-t.C:
		}
	}
}

// procStatus reads a size in kB from /proc/self/status (VmHWM, VmRSS); 0
// where there is no such file.
func procStatus(key string) uint64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), key+":"); ok {
			n, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n << 10
		}
	}
	return 0
}

// BenchmarkParallelUploads is the township's memory while ten officials
// each upload a 30 MiB WAV at once: the peak heap in use and the process's
// peak resident size (VmHWM, reset at the start where the kernel allows).
func BenchmarkParallelUploads(b *testing.B) {
	const (
		uploads = 10
		size    = 30 << 20
	)
	var peakHeap, peakRSS uint64
	for i := range b.N {
		dir := b.TempDir()
		st, err := boltstore.Open(filepath.Join(dir, "cloud.db"), boltstore.Options{})
		if err != nil {
			b.Fatal(err)
		}
		// A long wait: the figure is the memory, however slow the machine.
		lib, err := New(Config{Dir: filepath.Join(dir, "media"), MaxBytes: 32 << 20, UploadWait: 10 * time.Minute}, Deps{
			Logger: slog.New(slog.DiscardHandler), Index: st, Plans: st,
			BoxAuth: func(context.Context, string, string) (string, bool) { return "", false },
		})
		if err != nil {
			b.Fatal(err)
		}
		srv := uploadServer(b, lib)
		runtime.GC()
		// Writing 5 resets the peak resident size (Linux 4.0 and later).
		_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) // best effort: VmHWM then covers the whole run
		stop := make(chan struct{})
		peak := make(chan uint64, 1)
		go func() { peak <- peakMemory(stop) }()
		var wg sync.WaitGroup
		errs := make(chan error, uploads)
		for u := range uploads {
			wg.Go(func() {
				code, body, err := postClip(b.Context(), srv.URL, fmt.Sprintf("clip-%d-%d.wav", i, u), newClipStream(size, uint32(i*uploads+u)))
				if err == nil && code != http.StatusOK {
					err = fmt.Errorf("status %d: %s", code, body)
				}
				errs <- err
			})
		}
		wg.Wait()
		close(stop)
		peakHeap = max(peakHeap, <-peak)
		peakRSS = max(peakRSS, procStatus("VmHWM"))
		close(errs)
		for err := range errs {
			if err != nil {
				b.Fatal(err)
			}
		}
		srv.Close()
		st.Close()
	}
	b.ReportMetric(float64(peakHeap)/(1<<20), "peak-heap-MiB")
	b.ReportMetric(float64(peakRSS)/(1<<20), "peak-rss-MiB")
}
