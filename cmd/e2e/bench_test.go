package e2e

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dalaba/dalaba/internal/testenv"
)

// BenchmarkDrainEndToEnd: 100,000 events buffered on a box whose uplink is
// down, then the time until the township has stored and acknowledged them
// all, both daemons as real processes on loopback. Target: under 5 s.
// make test runs it with 10,000 events.
func BenchmarkDrainEndToEnd(b *testing.B) {
	n := testenv.BenchSize(100_000, 10_000)
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		c := startCloud(b, cloudOpts{})
		id := uniqueID("drain")
		cfg := writeEdgeConfig(b, c.addBox(b, id))
		c.stop() // the uplink goes down with the township's broker
		e := startEdge(b, cfg, b.TempDir())
		var acked seqSet
		if err := appendLoad(e, n, 1000, 4, &acked, "bench.drain"); err != nil {
			b.Fatal(err)
		}
		var maxSeq uint64
		for q := range acked.m {
			maxSeq = max(maxSeq, q)
		}
		b.StartTimer()
		began := time.Now()
		c2 := startCloud(b, cloudOpts{dataDir: c.dataDir, mqtt: c.MQTT})
		eventually(b, 120*time.Second, "drain", func() bool { return c2.box(b, id).Watermark >= maxSeq })
		b.ReportMetric(time.Since(began).Seconds(), fmt.Sprintf("s/%dk-drain", n/1000))
		b.ReportMetric(float64(n)/time.Since(began).Seconds(), "events/s")
		b.StopTimer()
		e.stop()
		c2.stop()
	}
}

// BenchmarkEdgeIdleRSS: resident memory of dalaba-edge when idle and
// connected. Target: under 30 MB.
func BenchmarkEdgeIdleRSS(b *testing.B) {
	c := startCloud(b, cloudOpts{})
	id := uniqueID("rss")
	e := startEdge(b, writeEdgeConfig(b, c.addBox(b, id)), b.TempDir())
	eventually(b, 10*time.Second, "box online", func() bool { return c.box(b, id).Online })
	b.ResetTimer()
	var rss float64
	for i := 0; i < b.N; i++ {
		time.Sleep(2 * time.Second) // idle: what an idle, connected box holds
		kb, err := vmRSS(e.cmd.Process.Pid)
		if err != nil {
			b.Fatal(err)
		}
		rss = float64(kb) / 1024
	}
	b.ReportMetric(rss, "RSS-MB")
}

func vmRSS(pid int) (int, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			return strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
		}
	}
	return 0, fmt.Errorf("no VmRSS for pid %d", pid)
}
