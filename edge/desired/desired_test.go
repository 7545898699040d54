package desired

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/dalaba/dalaba/edge/clock/clocktest"
	"github.com/dalaba/dalaba/edge/store"
	"github.com/dalaba/dalaba/protocol"
)

var t0 = time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)

type recorded struct {
	typ  string
	prio protocol.Priority
	data []byte
}

type rig struct {
	a       *Applier
	st      *store.Store
	key     ed25519.PrivateKey
	clk     *clocktest.Clock
	mu      sync.Mutex
	events  []recorded
	results []protocol.CommandResult
	applied []protocol.Desired
}

func newRig(t *testing.T, dir string) *rig {
	t.Helper()
	st, err := store.Open(filepath.Join(dir, "edge.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	r := &rig{st: st, key: ed25519.NewKeyFromSeed(bytes.Repeat([]byte{3}, 32)), clk: clocktest.New(t0)}
	r.a, err = New(Deps{
		Clock: r.clk, BoxID: "village-1", Key: r.key.Public().(ed25519.PublicKey), Store: st,
		Record: func(_ context.Context, typ string, prio protocol.Priority, data any) error {
			b, _ := json.Marshal(data)
			r.mu.Lock()
			r.events = append(r.events, recorded{typ, prio, b})
			r.mu.Unlock()
			return nil
		},
		Results: func(res protocol.CommandResult) { r.mu.Lock(); r.results = append(r.results, res); r.mu.Unlock() },
	})
	if err != nil {
		t.Fatal(err)
	}
	r.a.Subscribe(func(d protocol.Desired) { r.mu.Lock(); r.applied = append(r.applied, d); r.mu.Unlock() })
	return r
}

func (r *rig) desired(t *testing.T, k ed25519.PrivateKey, box string, rev uint64, exp time.Time) []byte {
	t.Helper()
	p, err := protocol.SignDesired(k, protocol.Desired{BoxID: box, Rev: rev, IssuedAt: t0.Add(-time.Hour), ExpiresAt: exp, Spec: json.RawMessage(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func (r *rig) lastRejection(t *testing.T) protocol.Rejected {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.events) == 0 {
		t.Fatal("no event recorded")
	}
	e := r.events[len(r.events)-1]
	var rej protocol.Rejected
	if err := json.Unmarshal(e.data, &rej); err != nil || e.prio != protocol.PriorityCritical {
		t.Fatalf("last event %s %s is not a critical rejection", e.typ, e.data)
	}
	return rej
}

func TestDesiredAppliedOnlyWhenValid(t *testing.T) {
	r := newRig(t, t.TempDir())
	ctx := t.Context()
	later := t0.Add(24 * time.Hour)
	r.a.HandleDesired(ctx, r.desired(t, r.key, "village-1", 5, later))
	if r.a.AppliedRev() != 5 || len(r.applied) != 1 {
		t.Fatalf("good state not applied: rev %d, %d handed on", r.a.AppliedRev(), len(r.applied))
	}
	if rev, _, _ := r.st.AppliedDesired(); rev != 5 {
		t.Fatalf("persisted rev %d", rev)
	}
	// The same rev again (the retained copy on reconnect): quietly ignored.
	n := len(r.events)
	r.a.HandleDesired(ctx, r.desired(t, r.key, "village-1", 5, later))
	if len(r.events) != n || len(r.applied) != 1 {
		t.Fatal("a redelivered rev was recorded or re-applied")
	}

	forger := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{9}, 32))
	var env protocol.Envelope
	_ = json.Unmarshal(r.desired(t, r.key, "village-1", 9, later), &env) // signed above; cannot fail
	env.Sig = nil
	unsigned, _ := json.Marshal(env)
	cases := []struct {
		name    string
		payload []byte
		reason  string
	}{
		{"forged", r.desired(t, forger, "village-1", 9, later), protocol.ReasonBadSignature},
		{"unsigned", unsigned, protocol.ReasonUnsigned},
		{"expired", r.desired(t, r.key, "village-1", 9, t0), protocol.ReasonExpired},
		{"older rev", r.desired(t, r.key, "village-1", 4, later), protocol.ReasonStale},
		{"for another box", r.desired(t, r.key, "village-2", 9, later), protocol.ReasonBadSignature},
		{"malformed", []byte(`{"v":1,"body":`), protocol.ReasonMalformed},
		{"wrong version", []byte(`{"v":3}`), protocol.ReasonVersion},
		{"oversized", make([]byte, protocol.KindDesired.MaxPayload()+1), protocol.ReasonTooLarge},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r.a.HandleDesired(ctx, c.payload)
			if rej := r.lastRejection(t); rej.Reason != c.reason {
				t.Errorf("reason %q, want %q", rej.Reason, c.reason)
			}
			if rev, _, _ := r.st.AppliedDesired(); rev != 5 || r.a.AppliedRev() != 5 || len(r.applied) != 1 {
				t.Errorf("state changed: stored %d, applied %d", rev, r.a.AppliedRev())
			}
		})
	}
}

func TestPersistedStateHandedOnAtStart(t *testing.T) {
	dir := t.TempDir()
	r := newRig(t, dir)
	r.a.HandleDesired(t.Context(), r.desired(t, r.key, "village-1", 3, t0.Add(time.Hour)))
	r.st.Close()

	r2 := newRig(t, dir)
	r2.clk.Set(t0.Add(48 * time.Hour)) // expired by now: still the best the box has
	if err := r2.a.Start(); err != nil {
		t.Fatal(err)
	}
	if r2.a.AppliedRev() != 3 || len(r2.applied) != 1 || r2.applied[0].Rev != 3 {
		t.Fatalf("after restart: rev %d, handed %d", r2.a.AppliedRev(), len(r2.applied))
	}
}

func TestCommands(t *testing.T) {
	r := newRig(t, t.TempDir())
	ctx := t.Context()
	cmd := func(k ed25519.PrivateKey, id, typ string, issued time.Time) []byte {
		p, err := protocol.SignCommand(k, protocol.Command{ID: id, BoxID: "village-1", Type: typ, IssuedAt: issued, ExpiresAt: issued.Add(time.Minute)})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	r.a.HandleCommand(ctx, cmd(r.key, "c1", "ping", t0))
	if len(r.results) != 1 || !r.results[0].OK || r.results[0].ID != "c1" {
		t.Fatalf("ping: %+v", r.results)
	}
	r.a.HandleCommand(ctx, cmd(r.key, "c2", "self-destruct", t0))
	if len(r.results) != 2 || r.results[1].OK || r.results[1].Error == "" {
		t.Fatalf("unknown type: %+v", r.results[1])
	}
	cases := []struct {
		name    string
		payload []byte
		reason  string
	}{
		{"replayed", cmd(r.key, "c1", "ping", t0), protocol.ReasonReplay},
		{"forged", cmd(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{8}, 32)), "c3", "ping", t0), protocol.ReasonBadSignature},
		{"expired", cmd(r.key, "c4", "ping", t0.Add(-time.Hour)), protocol.ReasonExpired},
		{"garbage", []byte("garbage"), protocol.ReasonMalformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r.a.HandleCommand(ctx, c.payload)
			if rej := r.lastRejection(t); rej.Reason != c.reason {
				t.Errorf("reason %q, want %q", rej.Reason, c.reason)
			}
			if len(r.results) != 2 {
				t.Errorf("a refused command ran: %+v", r.results)
			}
		})
	}
}
