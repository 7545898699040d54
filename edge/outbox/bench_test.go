package outbox

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dalaba/dalaba/protocol"
)

const benchData = `{"zone":"z1","speaker":"s3","result":"ok"}`

// appendConcurrently appends n events from producers goroutines and
// reports events/s.
func appendConcurrently(b *testing.B, cfg Config, producers int) {
	r := open(b, filepath.Join(b.TempDir(), "edge.db"), cfg)
	n := max(b.N, 1) * 1000
	var wg sync.WaitGroup
	per := n / producers
	b.ResetTimer()
	start := time.Now()
	for p := 0; p < producers; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < per; i++ {
				r.append(b, "bench", protocol.PriorityInfo, benchData)
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(per*producers)/time.Since(start).Seconds(), "events/s")
}

// BenchmarkAppendGroupCommit: 1,000 producers (a local API batch), every append fsynced before it
// returns, sharing commits. Target: at least 100,000 events/s.
func BenchmarkAppendGroupCommit(b *testing.B) {
	appendConcurrently(b, Config{}, 1000)
}

// BenchmarkAppendOneCommitPerEvent: the same with one event per commit,
// for comparison.
func BenchmarkAppendOneCommitPerEvent(b *testing.B) {
	appendConcurrently(b, Config{MaxCommit: 1}, 1000)
}

// BenchmarkTrickleBytesPerEvent: one event at a time, each waiting for its
// own commit, as at a trickle of one event a second: bytes the process
// wrote to the disk per event (/proc/self/io write_bytes), the SD card's
// wear.
func BenchmarkTrickleBytesPerEvent(b *testing.B) {
	r := open(b, filepath.Join(b.TempDir(), "edge.db"), Config{})
	for i := 0; i < 50; i++ { // let the file reach its working size
		r.append(b, "warm", protocol.PriorityInfo, benchData)
	}
	if _, err := r.o.Ack(r.o.Epoch(), 1, 50); err != nil {
		b.Fatal(err)
	}
	const n = 200
	before := writeBytes(b)
	b.ResetTimer()
	for i := 0; i < max(b.N, 1); i++ {
		for j := 0; j < n; j++ {
			seq := r.append(b, "trickle", protocol.PriorityInfo, benchData)
			if j%10 == 9 {
				if _, err := r.o.Ack(r.o.Epoch(), 1, seq); err != nil { // the uplink acks as it goes
					b.Fatal(err)
				}
			}
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(writeBytes(b)-before)/float64(n*max(b.N, 1)), "disk-B/event")
}

func writeBytes(b *testing.B) int64 {
	f, err := os.Open("/proc/self/io")
	if err != nil {
		b.Skipf("no /proc/self/io: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "write_bytes: "); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	b.Skip("no write_bytes in /proc/self/io")
	return 0
}
