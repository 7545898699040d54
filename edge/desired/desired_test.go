package desired

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/dalaba/dalaba/edge/clock/clocktest"
	"github.com/dalaba/dalaba/edge/store"
	"github.com/dalaba/dalaba/protocol"
)

var t0 = time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)

const box = "village-1"

type recorded struct {
	typ  string
	prio protocol.Priority
	data []byte
}

// rig is an applier over a real store file, recording what it hands on.
type rig struct {
	a       *Applier
	st      *store.Store
	key     ed25519.PrivateKey
	clk     *clocktest.Clock
	mu      sync.Mutex
	events  []recorded
	handed  []State
	applied []uint64
}

func newRig(t *testing.T, dir string, wrap func(Store) Store) *rig {
	t.Helper()
	st, err := store.Open(filepath.Join(dir, "edge.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	r := &rig{st: st, key: ed25519.NewKeyFromSeed(bytes.Repeat([]byte{3}, 32)), clk: clocktest.New(t0)}
	var s Store = st
	if wrap != nil {
		s = wrap(st)
	}
	r.a, err = New(Deps{
		Clock: r.clk, BoxID: box, Key: r.key.Public().(ed25519.PublicKey), Store: s,
		Record: func(_ context.Context, typ string, prio protocol.Priority, data any) error {
			b, err := json.Marshal(data)
			if err != nil {
				t.Errorf("event data: %v", err)
			}
			r.mu.Lock()
			r.events = append(r.events, recorded{typ, prio, b})
			r.mu.Unlock()
			return nil
		},
		Applied: func(rev uint64) { r.mu.Lock(); r.applied = append(r.applied, rev); r.mu.Unlock() },
	})
	if err != nil {
		t.Fatal(err)
	}
	r.a.Subscribe(func(d State) {
		// Persisted before anyone is told.
		if rev, _, err := st.AppliedDesired(); err != nil || rev != d.Rev {
			t.Errorf("rev %d handed on while the store holds %d (%v)", d.Rev, rev, err)
		}
		r.mu.Lock()
		r.handed = append(r.handed, d)
		r.mu.Unlock()
	})
	return r
}

func (r *rig) desired(t *testing.T, k ed25519.PrivateKey, forBox string, rev uint64, exp time.Time) []byte {
	t.Helper()
	p, err := protocol.SignDesired(k, protocol.Desired{BoxID: forBox, Rev: rev, IssuedAt: t0.Add(-time.Hour), ExpiresAt: exp, Spec: json.RawMessage(`{"broadcast":{}}`)})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// sealRaw signs body for box's topic of kind k exactly as the township
// would (the signed bytes are documented in package protocol), without the
// checks SignDesired and SignCommand make, so that a test can send what a
// careless or compromised signer could.
func sealRaw(t *testing.T, key ed25519.PrivateKey, k protocol.Kind, forBox string, body any) []byte {
	t.Helper()
	raw, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	msg := append([]byte("dalaba/v1/"+string(k)+"\n"+forBox+"\n"), raw...)
	p, err := json.Marshal(protocol.Envelope{V: protocol.Version, Body: raw, Sig: ed25519.Sign(key, msg)})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func unsign(t *testing.T, payload []byte) []byte {
	t.Helper()
	var env protocol.Envelope
	if err := json.Unmarshal(payload, &env); err != nil {
		t.Fatal(err)
	}
	env.Sig = nil
	p, err := json.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func (r *rig) counts() (events, handed, applied int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.events), len(r.handed), len(r.applied)
}

// handle applies one payload as the lane does, and returns when done.
func (r *rig) handle(t *testing.T, payload []byte) {
	t.Helper()
	r.a.apply(t.Context(), [][]byte{payload})
}

// lastRejection returns the one event recorded since n events, which must
// be a critical rejection of type typ.
func (r *rig) lastRejection(t *testing.T, n int, typ string) protocol.Rejected {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.events) != n+1 {
		t.Fatalf("%d events recorded, want 1", len(r.events)-n)
	}
	e := r.events[n]
	var rej protocol.Rejected
	if err := json.Unmarshal(e.data, &rej); err != nil || e.typ != typ || e.prio != protocol.PriorityCritical {
		t.Fatalf("event %s prio %d %s, want a critical %s", e.typ, e.prio, e.data, typ)
	}
	return rej
}

func TestGoodDesiredStateIsPersistedThenHandedOnAndReported(t *testing.T) {
	r := newRig(t, t.TempDir(), nil)
	r.handle(t, r.desired(t, r.key, box, 5, t0.Add(24*time.Hour)))
	if rev, payload, _ := r.st.AppliedDesired(); rev != 5 || len(payload) == 0 {
		t.Fatalf("stored rev %d", rev)
	}
	if r.a.AppliedRev() != 5 || len(r.handed) != 1 || r.handed[0].Rev != 5 || r.handed[0].Spec.Broadcast == nil || r.handed[0].Spec.Cameras != nil {
		t.Fatalf("applied rev %d, handed on %+v", r.a.AppliedRev(), r.handed)
	}
	if len(r.applied) != 1 || r.applied[0] != 5 {
		t.Errorf("reported revs %v, want [5]", r.applied)
	}
	if len(r.events) != 1 || r.events[0].typ != protocol.EventDesiredApplied || string(r.events[0].data) != `{"rev":5}` {
		t.Errorf("events %+v, want one desired.applied", r.events)
	}

	// Newer revs replace it, in order.
	r.handle(t, r.desired(t, r.key, box, 9, t0.Add(24*time.Hour)))
	if r.a.AppliedRev() != 9 || len(r.handed) != 2 || len(r.applied) != 2 {
		t.Fatalf("rev 9: applied %d, handed %d", r.a.AppliedRev(), len(r.handed))
	}
}

func TestRedeliveredRevIsIgnoredQuietly(t *testing.T) {
	r := newRig(t, t.TempDir(), nil)
	p := r.desired(t, r.key, box, 5, t0.Add(24*time.Hour))
	r.handle(t, p)
	ev, handed, applied := r.counts()
	r.handle(t, p) // the retained copy, on reconnect
	ev2, handed2, applied2 := r.counts()
	if ev2 != ev || handed2 != handed || applied2 != applied {
		t.Errorf("the same rev again recorded %d events, handed on %d, reported %d", ev2-ev, handed2-handed, applied2-applied)
	}
}

func TestBadDesiredStateIsRefusedAndChangesNothing(t *testing.T) {
	r := newRig(t, t.TempDir(), nil)
	later := t0.Add(24 * time.Hour)
	r.handle(t, r.desired(t, r.key, box, 5, later))
	_, storedBefore, _ := r.st.AppliedDesired()

	forger := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{9}, 32))
	good := protocol.Desired{V: 1, BoxID: box, Rev: 9, IssuedAt: t0.Add(-time.Hour), ExpiresAt: later}
	withBox := good
	withBox.BoxID = "village-2"
	revZero := good
	revZero.Rev = 0
	cases := []struct {
		name    string
		payload []byte
		reason  string
		rev     uint64
	}{
		{"signed by another key", r.desired(t, forger, box, 9, later), protocol.ReasonBadSignature, 0},
		{"unsigned", unsign(t, r.desired(t, r.key, box, 9, later)), protocol.ReasonUnsigned, 0},
		{"expired", r.desired(t, r.key, box, 9, t0), protocol.ReasonExpired, 0},
		{"older rev", r.desired(t, r.key, box, 4, later), protocol.ReasonStale, 4},
		{"signed for another box's topic", r.desired(t, r.key, "village-2", 9, later), protocol.ReasonBadSignature, 0},
		{"naming another box", sealRaw(t, r.key, protocol.KindDesired, box, withBox), protocol.ReasonWrongBox, 0},
		{"signed but invalid (rev 0)", sealRaw(t, r.key, protocol.KindDesired, box, revZero), protocol.ReasonInvalid, 0},
		{"a command's signature", sealRaw(t, r.key, protocol.KindCmd, box, good), protocol.ReasonBadSignature, 0},
		{"malformed", []byte(`{"v":1,"body":`), protocol.ReasonMalformed, 0},
		{"not JSON", []byte("garbage"), protocol.ReasonMalformed, 0},
		{"no version", []byte(`{"body":{},"sig":"AA=="}`), protocol.ReasonVersion, 0},
		{"newer schema", []byte(`{"v":2,"body":{},"sig":"AA=="}`), protocol.ReasonVersion, 0},
		{"oversized", make([]byte, protocol.KindDesired.MaxPayload()+1), protocol.ReasonTooLarge, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ev, handed, applied := r.counts()
			r.handle(t, c.payload)
			rej := r.lastRejection(t, ev, protocol.EventDesiredRejected)
			if rej.Reason != c.reason || rej.Rev != c.rev || rej.Topic != protocol.Topic(box, protocol.KindDesired) {
				t.Errorf("rejection %+v, want reason %q rev %d", rej, c.reason, c.rev)
			}
			rev, stored, _ := r.st.AppliedDesired()
			_, handed2, applied2 := r.counts()
			if rev != 5 || !bytes.Equal(stored, storedBefore) || r.a.AppliedRev() != 5 || handed2 != handed || applied2 != applied {
				t.Errorf("state changed: stored rev %d, applied %d, handed on %d, reported %d", rev, r.a.AppliedRev(), handed2-handed, applied2-applied)
			}
		})
	}
}

// failingStore fails writes of desired state, like a full or broken disk.
type failingStore struct {
	Store
	err error
}

func (f failingStore) SaveDesired(uint64, []byte) error { return f.err }

func TestStateThatCannotBePersistedIsNotApplied(t *testing.T) {
	cases := []struct {
		name   string
		err    error
		events int // a stale file is a refusal; a broken disk is logged
	}{
		{"disk error", errors.New("input/output error"), 0},
		{"the file is ahead", store.ErrStale, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := newRig(t, t.TempDir(), func(s Store) Store { return failingStore{s, c.err} })
			r.handle(t, r.desired(t, r.key, box, 5, t0.Add(time.Hour)))
			ev, handed, applied := r.counts()
			if r.a.AppliedRev() != 0 || handed != 0 || applied != 0 || ev != c.events {
				t.Errorf("applied rev %d, handed on %d, reported %d, %d events", r.a.AppliedRev(), handed, applied, ev)
			}
		})
	}
}

func TestPersistedStateIsHandedOnAtStart(t *testing.T) {
	dir := t.TempDir()
	r := newRig(t, dir, nil)
	if err := r.a.Start(); err != nil || len(r.handed) != 0 {
		t.Fatalf("a fresh box: %v, handed on %d", err, len(r.handed))
	}
	r.handle(t, r.desired(t, r.key, box, 3, t0.Add(time.Hour)))
	r.st.Close()

	r2 := newRig(t, dir, nil)
	r2.clk.Set(t0.Add(48 * time.Hour)) // expired by now: still the best the box has
	if r2.a.AppliedRev() != 3 {
		t.Fatalf("applied rev after reopening: %d", r2.a.AppliedRev())
	}
	if err := r2.a.Start(); err != nil {
		t.Fatal(err)
	}
	if len(r2.handed) != 1 || r2.handed[0].Rev != 3 {
		t.Fatalf("after restart handed on %+v", r2.handed)
	}
	// And the redelivered retained copy is still quiet.
	r2.handle(t, r.desired(t, r.key, box, 3, t0.Add(72*time.Hour)))
	if ev, handed, _ := r2.counts(); ev != 0 || handed != 1 {
		t.Errorf("redelivery after restart: %d events, handed on %d", ev, handed)
	}
}

func TestStartRefusesAStoredStateThatNoLongerVerifies(t *testing.T) {
	dir := t.TempDir()
	r := newRig(t, dir, nil)
	r.handle(t, r.desired(t, r.key, box, 3, t0.Add(time.Hour)))
	r.st.Close()
	st, err := store.Open(filepath.Join(dir, "edge.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	other := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32)) // the box was re-provisioned
	a, err := New(Deps{Clock: r.clk, BoxID: box, Key: other.Public().(ed25519.PublicKey), Store: st,
		Record: func(context.Context, string, protocol.Priority, any) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	handed := 0
	a.Subscribe(func(State) { handed++ })
	if err := a.Start(); err == nil || handed != 0 {
		t.Errorf("Start: %v, handed on %d", err, handed)
	}
}

func TestNewReportsEveryMissingDependency(t *testing.T) {
	_, err := New(Deps{BoxID: "Bad/Box", Key: []byte{1}})
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{"box id", "township key", "no store", "no event recorder", "no clock"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q: %v", want, err)
		}
	}
}

// run runs the lane until the test ends.
func (r *rig) run(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

// States that queue while the lane is busy are taken together: only the
// newest is applied, its spec decoded once for every subscriber, and an
// older rev after it is refused as stale.
func TestTheLaneAppliesTheNewestOfABurst(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, t.TempDir(), nil)
		exp := t0.Add(24 * time.Hour)
		for _, rev := range []uint64{3, 7, 5} {
			r.a.Receive(t.Context(), r.desired(t, r.key, box, rev, exp))
		}
		r.run(t)
		synctest.Wait()
		if _, handed, applied := r.counts(); r.a.AppliedRev() != 7 || handed != 1 || r.handed[0].Rev != 7 || applied != 1 {
			t.Fatalf("applied rev %d, handed on %+v, reported %v; want rev 7 alone", r.a.AppliedRev(), r.handed, r.applied)
		}
		if len(r.events) != 1 || r.events[0].typ != protocol.EventDesiredApplied || string(r.events[0].data) != `{"rev":7}` {
			t.Errorf("events %+v, want rev 7 applied and nothing about the superseded ones", r.events)
		}

		r.a.Receive(t.Context(), r.desired(t, r.key, box, 6, exp))
		synctest.Wait()
		if rej := r.lastRejection(t, 1, protocol.EventDesiredRejected); rej.Reason != protocol.ReasonStale || rej.Rev != 6 {
			t.Errorf("rev 6 after rev 7: %+v", rej)
		}
		r.a.Receive(t.Context(), r.desired(t, r.key, box, 8, exp))
		synctest.Wait()
		if r.a.AppliedRev() != 8 || len(r.handed) != 2 || r.handed[1].Rev != 8 {
			t.Errorf("rev 8: applied %d, handed on %+v", r.a.AppliedRev(), r.handed)
		}
	})
}

// Receive only hands a payload over: the uplink never waits for a
// subscriber at work.
func TestReceiveDoesNotWaitForTheSubscribers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, t.TempDir(), nil)
		release := make(chan struct{})
		r.a.Subscribe(func(State) { <-release })
		r.run(t)
		exp := t0.Add(24 * time.Hour)
		r.a.Receive(t.Context(), r.desired(t, r.key, box, 1, exp))
		synctest.Wait() // rev 1's subscribers are at work
		for rev := uint64(2); rev < 2+inQueue; rev++ {
			r.a.Receive(t.Context(), r.desired(t, r.key, box, rev, exp))
		}
		close(release)
		synctest.Wait()
		if got := r.a.AppliedRev(); got != 1+inQueue {
			t.Errorf("applied rev %d, want %d", got, 1+inQueue)
		}
	})
}

func TestRunOnceAndReceiveAfterTheStop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, t.TempDir(), nil)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if err := r.a.Run(ctx); err != nil {
			t.Fatal(err)
		}
		if err := r.a.Run(t.Context()); err == nil {
			t.Error("Run ran twice")
		}
		for rev := uint64(1); rev <= inQueue+1; rev++ { // the last would wait for a lane that is gone
			r.a.Receive(t.Context(), r.desired(t, r.key, box, rev, t0.Add(time.Hour)))
		}
	})
}
