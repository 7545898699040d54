package rtcpeer

import (
	"context"
	"errors"
	"iter"
	"log/slog"
	"strings"
	"testing"
	"testing/synctest"
)

var (
	errNotRunning = errors.New("not running")
	errFull       = errors.New("full")
	errUnknown    = errors.New("unknown")
)

// page is a server's session type as the servers have one: *Session
// embedded, its own fields beside.
type page struct {
	*Session
	zone    string
	cleaned bool // set by its run, read once Done
}

func newRegistry(max int) *Registry[*page] {
	return NewRegistry[*page](max, Refusals{NotRunning: errNotRunning, Full: errFull, Unknown: errUnknown})
}

// admit admits a page for zone unless one holds it, as paging does.
func admit(r *Registry[*page], id, zone string) (*page, error) {
	return r.Admit(func(runCtx context.Context, held iter.Seq[*page]) (*page, error) {
		for o := range held {
			if o.zone == zone {
				return nil, errors.New("zone busy")
			}
		}
		return &page{Session: NewSession(runCtx, id, slog.New(slog.DiscardHandler)), zone: zone}, nil
	})
}

// serve runs p as a server does: until its context ends, then it cleans
// up and leaves the registry.
func serve(r *Registry[*page], p *page) {
	r.Go(p, func() {
		<-p.Context().Done()
		p.cleaned = true
		r.Remove(p)
	})
}

// startRun runs r.Run until the returned cancel; its result comes on the
// channel.
func startRun(t *testing.T, r *Registry[*page], reason string) (context.CancelFunc, <-chan error) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx, reason) }()
	synctest.Wait()
	if !r.Running() {
		t.Fatal("not running after Run started")
	}
	return cancel, done
}

func TestRegistryAdmits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRegistry(2)
		if _, err := admit(r, "a", "square"); !errors.Is(err, errNotRunning) {
			t.Fatalf("before Run: err = %v; want the NotRunning refusal", err)
		}
		cancel, done := startRun(t, r, "box stopping")
		a, err := admit(r, "a", "square")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := admit(r, "b", "square"); err == nil || err.Error() != "zone busy" {
			t.Fatalf("a second page of the square: err = %v; want create's own refusal", err)
		}
		if n := r.Len(); n != 1 {
			t.Fatalf("Len = %d after a refusal by create; want 1", n)
		}
		b, err := admit(r, "b", "school")
		if err != nil {
			t.Fatal(err)
		}
		_, err = admit(r, "c", "gate")
		if !errors.Is(err, errFull) || !strings.Contains(err.Error(), "(2)") {
			t.Fatalf("a third: err = %v; want the Full refusal naming 2", err)
		}
		// An answer that failed gives its place back at once.
		r.Drop(b)
		select {
		case <-b.Done():
		default:
			t.Error("a dropped session is not done")
		}
		c, err := admit(r, "c", "gate")
		if err != nil {
			t.Fatalf("after a Drop: %v", err)
		}
		serve(r, a)
		serve(r, c)
		if n := r.Len(); n != 2 {
			t.Fatalf("Len = %d; want 2", n)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
}

func TestRegistryStop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRegistry(4)
		cancel, done := startRun(t, r, "box stopping")
		defer func() {
			cancel()
			<-done
		}()
		p, err := admit(r, "p1", "square")
		if err != nil {
			t.Fatal(err)
		}
		p.Stop("the Air took it off") // its own reason, before Stop's
		release := make(chan struct{})
		r.Go(p, func() {
			<-release // cleaning up takes a while
			p.cleaned = true
			r.Remove(p)
		})
		stopped := make(chan error, 1)
		go func() { stopped <- r.Stop("p1") }()
		synctest.Wait()
		select {
		case err := <-stopped:
			t.Fatalf("Stop returned (%v) before the session was done", err)
		default:
		}
		close(release)
		if err := <-stopped; err != nil {
			t.Fatal(err)
		}
		if !p.cleaned || r.Len() != 0 {
			t.Errorf("after Stop: cleaned %v, Len %d", p.cleaned, r.Len())
		}
		if got := p.Reason(); got != "the Air took it off" {
			t.Errorf("reason %q; want the first one given", got)
		}
		if err := r.Stop("p1"); !errors.Is(err, errUnknown) {
			t.Errorf("a second Stop: %v; want the Unknown refusal", err)
		}
	})
}

// TestRegistryRunEnds: when Run's context ends, every session is stopped
// with Run's reason, those still being answered included, and Run returns
// once each is done; nothing is let in any more.
func TestRegistryRunEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRegistry(4)
		cancel, done := startRun(t, r, "box stopping")
		// Its context does not end with Run's: Run's Stop is what ends it.
		running, err := r.Admit(func(runCtx context.Context, _ iter.Seq[*page]) (*page, error) {
			return &page{Session: NewSession(context.WithoutCancel(runCtx), "running", slog.New(slog.DiscardHandler))}, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		serve(r, running)
		answering, err := admit(r, "answering", "school")
		if err != nil {
			t.Fatal(err)
		}
		cancel()
		synctest.Wait()
		select {
		case err := <-done:
			t.Fatalf("Run returned (%v) while a session was still being answered", err)
		default:
		}
		if r.Running() {
			t.Error("Running after Run's context ended")
		}
		if _, err := admit(r, "late", "gate"); !errors.Is(err, errNotRunning) {
			t.Errorf("Admit while Run ends: %v; want the NotRunning refusal", err)
		}
		if answering.Context().Err() == nil {
			t.Fatal("the session being answered was not stopped")
		}
		serve(r, answering) // its answer came after all; it ends at once
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		for _, p := range []*page{running, answering} {
			if !p.cleaned || p.Reason() != "box stopping" {
				t.Errorf("%s: cleaned %v, reason %q", p.ID(), p.cleaned, p.Reason())
			}
		}
		if n := r.Len(); n != 0 {
			t.Errorf("Len = %d after Run", n)
		}
		if err := r.Run(t.Context(), "again"); err == nil {
			t.Error("a second Run: no error")
		}
	})
}

func TestSession(t *testing.T) {
	parent, cancelParent := context.WithCancel(t.Context())
	s := NewSession(parent, "s1", slog.New(slog.DiscardHandler))
	if s.ID() != "s1" || s.Context().Err() != nil {
		t.Fatalf("new session: id %q, context %v", s.ID(), s.Context().Err())
	}
	cancelParent()
	<-s.Context().Done() // the parent ends it
	if s.Reason() != "" {
		t.Errorf("reason %q without Stop", s.Reason())
	}
	s.Stop("first")
	s.Stop("second")
	if s.Reason() != "first" {
		t.Errorf("reason %q; want the first given", s.Reason())
	}
}

func TestNewID(t *testing.T) {
	a, err := NewID()
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewID()
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != 32 || strings.Trim(a, "0123456789abcdef") != "" || a == b {
		t.Errorf("ids %q and %q; want two different ones of 32 hex digits", a, b)
	}
}
