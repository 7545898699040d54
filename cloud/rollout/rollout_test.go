package rollout_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/dalaba/dalaba/cloud/rollout"
	"github.com/dalaba/dalaba/cloud/store"
	"github.com/dalaba/dalaba/cloud/store/boltstore"
	"github.com/dalaba/dalaba/protocol"
)

// fleet plays the boxes: each answers an install and then reports what
// its behaviour says.
type fleet struct {
	mu     sync.Mutex
	e      *rollout.Engine
	sent   map[string]int
	behave func(box string) (protocol.CommandResult, *protocol.UpdateStatus, string)
}

func (f *fleet) SendCommand(_ context.Context, box, typ string, args any, _ time.Duration) (protocol.CommandResult, error) {
	f.mu.Lock()
	f.sent[box]++
	f.mu.Unlock()
	res, st, version := f.behave(box)
	if st != nil {
		go func() {
			time.Sleep(5 * time.Second) // the restart
			f.e.Reported(box, protocol.Reported{Version: version, Update: st})
		}()
	}
	return res, nil
}

func setup(t *testing.T, boxes int, behave func(string) (protocol.CommandResult, *protocol.UpdateStatus, string)) (*rollout.Engine, *fleet, store.Store) {
	t.Helper()
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "cloud.db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ctx := t.Context()
	for i := range boxes {
		if err := st.CreateBox(ctx, store.Box{ID: fmt.Sprintf("village-%d", i), Name: "v", CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.PutRelease(ctx, store.Release{Version: "2.0", UploadedAt: time.Now(),
		Binaries: []store.ReleaseBinary{{Arch: "arm64", SHA256: "ab", Size: 1, Manifest: []byte(`{}`)}}}); err != nil {
		t.Fatal(err)
	}
	f := &fleet{sent: map[string]int{}, behave: behave}
	e, err := rollout.New(rollout.Config{ReleaseURL: "http://t/releases/", Tick: time.Second, Retry: time.Minute, BoxTimeout: time.Hour},
		rollout.Deps{Store: st, Sender: f})
	if err != nil {
		t.Fatal(err)
	}
	f.e = e
	for i := range boxes {
		e.Reported(fmt.Sprintf("village-%d", i), protocol.Reported{Version: "1.0", Update: &protocol.UpdateStatus{Arch: "arm64", Phase: protocol.UpdateCommitted, Version: "1.0"}})
	}
	return e, f, st
}

func run(t *testing.T, e *rollout.Engine) {
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { e.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

func ok(string) (protocol.CommandResult, *protocol.UpdateStatus, string) {
	return protocol.CommandResult{OK: true}, &protocol.UpdateStatus{Arch: "arm64", Phase: protocol.UpdateCommitted, Version: "2.0"}, "2.0"
}

func TestWavesReachEveryBox(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e, f, st := setup(t, 20, ok)
		run(t, e)
		r, err := e.Start(t.Context(), rollout.Spec{Version: "2.0", Waves: []int{10, 50, 100}, By: "admin"})
		if err != nil {
			t.Fatal(err)
		}
		waves := map[int]int{}
		for _, b := range r.Boxes {
			waves[b.Wave]++
		}
		if waves[0] != 2 || waves[1] != 8 || waves[2] != 10 {
			t.Fatalf("waves %v: want 2, 8, 10 boxes", waves)
		}
		time.Sleep(3 * time.Second)
		synctest.Wait()
		f.mu.Lock()
		if len(f.sent) != 2 {
			t.Fatalf("%d boxes sent before the first wave settled, want 2", len(f.sent))
		}
		f.mu.Unlock()
		time.Sleep(time.Minute)
		got, _ := st.GetRollout(t.Context(), r.ID)
		if got.State != store.RolloutDone {
			t.Fatalf("rollout %s after a minute: %+v", got.State, got)
		}
		for _, b := range got.Boxes {
			if b.State != store.BoxUpdated || f.sent[b.BoxID] != 1 {
				t.Fatalf("box %+v sent %d times", b, f.sent[b.BoxID])
			}
		}
	})
}

func TestRollbacksPauseTheRollout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e, f, st := setup(t, 10, func(string) (protocol.CommandResult, *protocol.UpdateStatus, string) {
			return protocol.CommandResult{OK: true}, &protocol.UpdateStatus{Arch: "arm64", Phase: protocol.UpdateRolledBack, Version: "1.0", From: "2.0", Reason: protocol.RollbackCrashLoop}, "1.0"
		})
		run(t, e)
		r, err := e.Start(t.Context(), rollout.Spec{Version: "2.0", Waves: []int{20, 100}, MaxFailures: 1})
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Minute)
		got, _ := st.GetRollout(t.Context(), r.ID)
		if got.State != store.RolloutPaused || got.Reason == "" {
			t.Fatalf("rollout after two roll-backs: %s (%s)", got.State, got.Reason)
		}
		f.mu.Lock()
		if len(f.sent) != 2 {
			t.Fatalf("%d boxes sent, want only the first wave's 2", len(f.sent))
		}
		f.mu.Unlock()
		failed := 0
		for _, b := range got.Boxes {
			if b.State == store.BoxFailed {
				failed++
				if b.Code != protocol.RollbackCrashLoop {
					t.Errorf("failed box %+v: want the box's reason", b)
				}
			}
		}
		if failed != 2 {
			t.Fatalf("%d failed, want 2", failed)
		}
		// Cancelled, it stays so.
		if _, err := e.Cancel(t.Context(), r.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := e.Resume(t.Context(), r.ID); err == nil {
			t.Fatal("a cancelled rollout resumed")
		}
	})
}

func TestPassingRefusalsAreTriedAgain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		tries := 0
		e, _, st := setup(t, 1, func(box string) (protocol.CommandResult, *protocol.UpdateStatus, string) {
			mu.Lock()
			defer mu.Unlock()
			tries++
			if tries == 1 {
				return protocol.CommandResult{Code: protocol.CodeUpdateOnAir, Error: "on the air"}, nil, ""
			}
			return ok(box)
		})
		run(t, e)
		r, err := e.Start(t.Context(), rollout.Spec{Version: "2.0", Waves: []int{100}})
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(30 * time.Second)
		if got, _ := st.GetRollout(t.Context(), r.ID); got.Boxes[0].State != store.BoxWaiting || got.Boxes[0].Code != protocol.CodeUpdateOnAir {
			t.Fatalf("after an on-air refusal: %+v", got.Boxes[0])
		}
		time.Sleep(2 * time.Minute)
		if got, _ := st.GetRollout(t.Context(), r.ID); got.State != store.RolloutDone || got.Boxes[0].Tries != 2 {
			t.Fatalf("after the retry: %+v", got)
		}
	})
}

func TestRefusesBadRollouts(t *testing.T) {
	e, _, _ := setup(t, 2, ok)
	for _, s := range []rollout.Spec{
		{Version: "9.9"},
		{Version: "2.0", Waves: []int{50}},
		{Version: "2.0", Waves: []int{50, 20, 100}},
		{Version: "2.0", Boxes: []string{"nowhere"}},
		{Version: "2.0", Percent: 101},
	} {
		if _, err := e.Start(t.Context(), s); err == nil {
			t.Errorf("Start(%+v) accepted", s)
		}
	}
}
