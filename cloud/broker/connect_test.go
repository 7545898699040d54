package broker

import (
	"sync"
	"testing"
	"time"
)

// The connect bucket serves connects in the order they came: each waits
// for the token after the last one reserved, and one whose turn is past
// MaxWait is refused without taking a token.
func TestConnectGateQueuesThenRefuses(t *testing.T) {
	t0 := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
	g := newGate(ConnectLimit{PerSecond: 1, Burst: 2, MaxWait: 2 * time.Second}, t0)
	steps := []struct {
		at   time.Duration
		wait time.Duration
		ok   bool
	}{
		{0, 0, true}, {0, 0, true}, // the burst
		{0, time.Second, true}, {0, 2 * time.Second, true}, // queued behind it
		{0, 0, false},              // three seconds off: busy
		{3 * time.Second, 0, true}, // the queue has gone through
		{3 * time.Second, time.Second, true},
	}
	for i, s := range steps {
		wait, ok := g.take(t0.Add(s.at))
		if ok != s.ok || wait != s.wait {
			t.Fatalf("connect %d at +%s: wait %s, ok %v; want %s, %v", i, s.at, wait, ok, s.wait, s.ok)
		}
	}
	if p, r := g.paced.Load(), g.refused.Load(); p != 3 || r != 1 {
		t.Fatalf("counted %d paced and %d refused, want 3 and 1", p, r)
	}
}

func TestConnectLimitValidate(t *testing.T) {
	if err := DefaultConnectLimit().Validate(); err != nil {
		t.Fatalf("the default: %v", err)
	}
	for _, c := range []ConnectLimit{{PerSecond: 0, Burst: 1}, {PerSecond: 1, Burst: 0}, {PerSecond: 1, Burst: 1, MaxWait: ConnectTimeout}, {PerSecond: 1, Burst: 1, MaxWait: -1}} {
		if c.Validate() == nil {
			t.Errorf("%+v: valid, want an error", c)
		}
	}
}

// Boxes connecting at once past the bucket wait their turn on their own
// connections, and the one whose turn is too far off is told the server
// is unavailable (3.1.1's code 3), which makes a box back off and retry.
// The service's own client is never held.
func TestConnectsArePacedAndTheOverflowRefusedBusy(t *testing.T) {
	b, e := startWith(t, Config{Connects: ConnectLimit{PerSecond: 1, Burst: 1, MaxWait: 1500 * time.Millisecond}}, Deps{Logger: discardLogger()})
	codes := make([]byte, 3)
	var wg sync.WaitGroup
	for i, user := range []string{boxA, boxB, boxA} {
		wg.Go(func() {
			code, conn := e.rawConnect(t, user, user, "dalaba/v1/box/"+user+"/status", []byte("gone"))
			if conn != nil {
				defer conn.Close()
			}
			codes[i] = code
		})
	}
	wg.Wait()
	ok, busy := 0, 0
	for _, c := range codes {
		switch c {
		case 0:
			ok++
		case 3:
			busy++
		}
	}
	if ok != 2 || busy != 1 {
		t.Fatalf("CONNACK codes %v: want two accepted (one after waiting its turn) and one 3 (server unavailable)", codes)
	}
	code, conn := e.rawConnect(t, cloudUser, "cloud", "dalaba/v1/box/x/status", []byte("gone"))
	if conn != nil {
		defer conn.Close()
	}
	if code != 0 {
		t.Fatalf("the service's own client: CONNACK %d", code)
	}
	if paced, refused := b.Connects(); paced != 1 || refused != 1 {
		t.Fatalf("Connects() = %d paced, %d refused; want 1, 1 (the service's client not counted)", paced, refused)
	}
}
