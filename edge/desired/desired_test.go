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
	results []protocol.CommandResult
	handed  []protocol.Desired
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
		Results: func(res protocol.CommandResult) { r.mu.Lock(); r.results = append(r.results, res); r.mu.Unlock() },
		Applied: func(rev uint64) { r.mu.Lock(); r.applied = append(r.applied, rev); r.mu.Unlock() },
	})
	if err != nil {
		t.Fatal(err)
	}
	r.a.Subscribe(func(d protocol.Desired) {
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

func (r *rig) command(t *testing.T, k ed25519.PrivateKey, id, typ string, issued time.Time) []byte {
	t.Helper()
	p, err := protocol.SignCommand(k, protocol.Command{ID: id, BoxID: box, Type: typ, IssuedAt: issued, ExpiresAt: issued.Add(time.Minute)})
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

func (r *rig) counts() (events, results, handed, applied int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.events), len(r.results), len(r.handed), len(r.applied)
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
	r.a.HandleDesired(t.Context(), r.desired(t, r.key, box, 5, t0.Add(24*time.Hour)))
	if rev, payload, _ := r.st.AppliedDesired(); rev != 5 || len(payload) == 0 {
		t.Fatalf("stored rev %d", rev)
	}
	if r.a.AppliedRev() != 5 || len(r.handed) != 1 || r.handed[0].Rev != 5 || string(r.handed[0].Spec) != `{"broadcast":{}}` {
		t.Fatalf("applied rev %d, handed on %+v", r.a.AppliedRev(), r.handed)
	}
	if len(r.applied) != 1 || r.applied[0] != 5 {
		t.Errorf("reported revs %v, want [5]", r.applied)
	}
	if len(r.events) != 1 || r.events[0].typ != protocol.EventDesiredApplied || string(r.events[0].data) != `{"rev":5}` {
		t.Errorf("events %+v, want one desired.applied", r.events)
	}

	// Newer revs replace it, in order.
	r.a.HandleDesired(t.Context(), r.desired(t, r.key, box, 9, t0.Add(24*time.Hour)))
	if r.a.AppliedRev() != 9 || len(r.handed) != 2 || len(r.applied) != 2 {
		t.Fatalf("rev 9: applied %d, handed %d", r.a.AppliedRev(), len(r.handed))
	}
}

func TestRedeliveredRevIsIgnoredQuietly(t *testing.T) {
	r := newRig(t, t.TempDir(), nil)
	p := r.desired(t, r.key, box, 5, t0.Add(24*time.Hour))
	r.a.HandleDesired(t.Context(), p)
	ev, _, handed, applied := r.counts()
	r.a.HandleDesired(t.Context(), p) // the retained copy, on reconnect
	ev2, _, handed2, applied2 := r.counts()
	if ev2 != ev || handed2 != handed || applied2 != applied {
		t.Errorf("the same rev again recorded %d events, handed on %d, reported %d", ev2-ev, handed2-handed, applied2-applied)
	}
}

func TestBadDesiredStateIsRefusedAndChangesNothing(t *testing.T) {
	r := newRig(t, t.TempDir(), nil)
	later := t0.Add(24 * time.Hour)
	r.a.HandleDesired(t.Context(), r.desired(t, r.key, box, 5, later))
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
			ev, _, handed, applied := r.counts()
			r.a.HandleDesired(t.Context(), c.payload)
			rej := r.lastRejection(t, ev, protocol.EventDesiredRejected)
			if rej.Reason != c.reason || rej.Rev != c.rev || rej.Topic != protocol.Topic(box, protocol.KindDesired) {
				t.Errorf("rejection %+v, want reason %q rev %d", rej, c.reason, c.rev)
			}
			rev, stored, _ := r.st.AppliedDesired()
			_, _, handed2, applied2 := r.counts()
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
			r.a.HandleDesired(t.Context(), r.desired(t, r.key, box, 5, t0.Add(time.Hour)))
			ev, _, handed, applied := r.counts()
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
	r.a.HandleDesired(t.Context(), r.desired(t, r.key, box, 3, t0.Add(time.Hour)))
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
	r2.a.HandleDesired(t.Context(), r.desired(t, r.key, box, 3, t0.Add(72*time.Hour)))
	if ev, _, handed, _ := r2.counts(); ev != 0 || handed != 1 {
		t.Errorf("redelivery after restart: %d events, handed on %d", ev, handed)
	}
}

func TestStartRefusesAStoredStateThatNoLongerVerifies(t *testing.T) {
	dir := t.TempDir()
	r := newRig(t, dir, nil)
	r.a.HandleDesired(t.Context(), r.desired(t, r.key, box, 3, t0.Add(time.Hour)))
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
	a.Subscribe(func(protocol.Desired) { handed++ })
	if err := a.Start(); err == nil || handed != 0 {
		t.Errorf("Start: %v, handed on %d", err, handed)
	}
}

func TestPingAnswersWithTheBoxTime(t *testing.T) {
	r := newRig(t, t.TempDir(), nil)
	r.a.HandleCommand(t.Context(), r.command(t, r.key, "c1", "ping", t0))
	if len(r.results) != 1 {
		t.Fatalf("results %+v", r.results)
	}
	res := r.results[0]
	var data struct{ Pong time.Time }
	if !res.OK || res.ID != "c1" || res.BoxID != box || res.V != protocol.Version || json.Unmarshal(res.Data, &data) != nil || !data.Pong.Equal(t0) {
		t.Errorf("ping result %+v (%s)", res, res.Data)
	}
	if len(r.events) != 0 {
		t.Errorf("a good command recorded %+v", r.events)
	}
}

func TestCommandHandlers(t *testing.T) {
	r := newRig(t, t.TempDir(), nil)
	var ran []string
	r.a.Handle("fail", func(_ context.Context, c protocol.Command) (any, error) {
		ran = append(ran, c.ID)
		return nil, errors.New("speaker 3 is unplugged")
	})
	r.a.Handle("quiet", func(_ context.Context, c protocol.Command) (any, error) { ran = append(ran, c.ID); return nil, nil })
	cases := []struct {
		id, typ string
		ok      bool
		errHas  string
		event   string // the reason of a cmd.rejected event, if any
	}{
		{"c1", "fail", false, "speaker 3", ""},
		{"c2", "quiet", true, "", ""},
		{"c3", "self-destruct", false, `unknown command type "self-destruct"`, ReasonUnknownCommand},
	}
	for _, c := range cases {
		t.Run(c.typ, func(t *testing.T) {
			ev, n, _, _ := r.counts()
			r.a.HandleCommand(t.Context(), r.command(t, r.key, c.id, c.typ, t0))
			if len(r.results) != n+1 {
				t.Fatalf("no result")
			}
			res := r.results[n]
			if res.ID != c.id || res.OK != c.ok || !strings.Contains(res.Error, c.errHas) {
				t.Errorf("result %+v", res)
			}
			if c.event != "" {
				if rej := r.lastRejection(t, ev, protocol.EventCmdRejected); rej.Reason != c.event || rej.ID != c.id {
					t.Errorf("rejection %+v", rej)
				}
			} else if e, _, _, _ := r.counts(); e != ev {
				t.Errorf("%d events recorded", e-ev)
			}
		})
	}
	if strings.Join(ran, ",") != "c1,c2" {
		t.Errorf("handlers ran for %v", ran)
	}
}

func TestBadCommandsAreRefusedAndNotRun(t *testing.T) {
	r := newRig(t, t.TempDir(), nil)
	runs := 0
	r.a.Handle("play", func(context.Context, protocol.Command) (any, error) { runs++; return nil, nil })
	r.a.HandleCommand(t.Context(), r.command(t, r.key, "c1", "play", t0))
	if runs != 1 {
		t.Fatal("the good command did not run")
	}
	good := protocol.Command{V: 1, ID: "c9", BoxID: box, Type: "play", IssuedAt: t0, ExpiresAt: t0.Add(time.Minute)}
	otherBox := good
	otherBox.BoxID = "village-2"
	tooLong := good
	tooLong.ExpiresAt = t0.Add(time.Hour)
	cases := []struct {
		name    string
		payload []byte
		reason  string
		id      string
	}{
		{"replayed", r.command(t, r.key, "c1", "play", t0), protocol.ReasonReplay, "c1"},
		{"signed by another key", r.command(t, ed25519.NewKeyFromSeed(bytes.Repeat([]byte{8}, 32)), "c3", "play", t0), protocol.ReasonBadSignature, ""},
		{"unsigned", unsign(t, r.command(t, r.key, "c4", "play", t0)), protocol.ReasonUnsigned, ""},
		{"expired", r.command(t, r.key, "c5", "play", t0.Add(-time.Hour)), protocol.ReasonExpired, ""},
		{"naming another box", sealRaw(t, r.key, protocol.KindCmd, box, otherBox), protocol.ReasonWrongBox, ""},
		{"living too long", sealRaw(t, r.key, protocol.KindCmd, box, tooLong), protocol.ReasonInvalid, ""},
		{"a desired state's signature", sealRaw(t, r.key, protocol.KindDesired, box, good), protocol.ReasonBadSignature, ""},
		{"not JSON", []byte("garbage"), protocol.ReasonMalformed, ""},
		{"newer schema", []byte(`{"v":2}`), protocol.ReasonVersion, ""},
		{"oversized", make([]byte, protocol.KindCmd.MaxPayload()+1), protocol.ReasonTooLarge, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ev, results, _, _ := r.counts()
			r.a.HandleCommand(t.Context(), c.payload)
			rej := r.lastRejection(t, ev, protocol.EventCmdRejected)
			if rej.Reason != c.reason || rej.ID != c.id || rej.Topic != protocol.Topic(box, protocol.KindCmd) {
				t.Errorf("rejection %+v, want reason %q id %q", rej, c.reason, c.id)
			}
			if _, res, _, _ := r.counts(); res != results || runs != 1 {
				t.Errorf("a refused command ran (%d runs) or was answered (%d results)", runs, res-results)
			}
		})
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
