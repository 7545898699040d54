package enroll

import (
	"encoding/json"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dalaba/dalaba/internal/testenv"
	"github.com/dalaba/dalaba/protocol/claim"
)

// cpuTime is the process's user and system CPU time so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkEnroll300 is a county's day of installing: 300 villages' claim
// codes made from one sheet in one request, then 300 boxes enrolling with
// them, on a real bbolt file. The boxes' own Argon2id runs outside the
// measured time. Reported: the township's wall time to make the codes
// (create-ms), per enrollment (enroll-ms/box), and the township's CPU over
// both (township-cpu-ms).
func BenchmarkEnroll300(b *testing.B) {
	n := testenv.BenchSize(300, 10)
	var sheet strings.Builder
	sheet.WriteString("id,name,place\n")
	for i := range n {
		fmt.Fprintf(&sheet, "village-%03d,第%d村,片区%d\n", i, i, i%10)
	}
	var create, enroll, cpu time.Duration
	for range b.N {
		b.StopTimer()
		e := newEnv(b, "tls://t.example.cn:8883")
		b.StartTimer()
		cpu0, t0 := cpuTime(b), time.Now()
		vs, err := ParseSheet(strings.NewReader(sheet.String()))
		if err != nil {
			b.Fatal(err)
		}
		issued, err := e.svc.Create(b.Context(), "admin", vs, 0)
		if err != nil || len(issued) != n {
			b.Fatalf("%d codes, %v", len(issued), err)
		}
		create += time.Since(t0)
		cpu += cpuTime(b) - cpu0
		b.StopTimer()
		bodies := make([][]byte, n)
		for i, is := range issued {
			bodies[i], _ = json.Marshal(claim.NewRequest(claim.Derive(is.Code), is.Village))
		}
		b.StartTimer()
		cpu0, t0 = cpuTime(b), time.Now()
		for i, body := range bodies {
			if _, err := e.svc.Enroll(b.Context(), fmt.Sprintf("10.0.%d.%d", i/250, i%250), body); err != nil {
				b.Fatal(err)
			}
		}
		enroll += time.Since(t0)
		cpu += cpuTime(b) - cpu0
	}
	b.ReportMetric(float64(create.Milliseconds())/float64(b.N), "create-ms")
	b.ReportMetric(float64(enroll.Microseconds())/1000/float64(b.N*n), "enroll-ms/box")
	b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "township-cpu-ms")
}
