package testenv

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// untilCancelled is a well-behaved Run: it hands over its context, waits
// for it to end and returns err.
func untilCancelled(ctxs chan<- context.Context, err error) func(context.Context) error {
	return func(ctx context.Context) error {
		ctxs <- ctx
		<-ctx.Done()
		return err
	}
}

func TestBackgroundRunsUntilStop(t *testing.T) {
	rec := newRecorder(t)
	ctxs := make(chan context.Context, 1)
	r := Background(rec, 5*time.Second, "relay", untilCancelled(ctxs, nil))
	ctx := <-ctxs
	select {
	case <-r.Done():
		t.Fatal("Done before Stop")
	case <-time.After(20 * time.Millisecond):
	}
	if ctx.Err() != nil {
		t.Fatalf("Run's context ended before Stop: %v", ctx.Err())
	}
	if err := r.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if !errors.Is(ctx.Err(), context.Canceled) {
		t.Errorf("Run's context after Stop: %v; want cancelled", ctx.Err())
	}
	select {
	case <-r.Done():
	default:
		t.Error("Done not closed after Stop returned")
	}
	if err := r.Err(); err != nil {
		t.Errorf("Err = %v; want nil", err)
	}
	rec.runCleanups() // a second Stop, as at the test's end
	if failures, fatal := rec.reported(); len(failures) > 0 || fatal {
		t.Errorf("reported %q (fatal %v); want nothing", failures, fatal)
	}
}

func TestBackgroundReportsRunsErrorOnce(t *testing.T) {
	rec := newRecorder(t)
	ctxs := make(chan context.Context, 1)
	boom := errors.New("port taken")
	r := Background(rec, 5*time.Second, "speaker horn", untilCancelled(ctxs, boom))
	<-ctxs
	if err := r.Stop(); !errors.Is(err, boom) {
		t.Fatalf("Stop = %v; want %v", err, boom)
	}
	if err := r.Stop(); !errors.Is(err, boom) {
		t.Errorf("second Stop = %v; want %v again", err, boom)
	}
	rec.runCleanups()
	failures, fatal := rec.reported()
	if want := []string{"speaker horn Run: port taken"}; !slices.Equal(failures, want) || fatal {
		t.Errorf("reported %q (fatal %v); want %q once, not fatal", failures, fatal, want)
	}
}

func TestBackgroundReportsARunThatDoesNotReturn(t *testing.T) {
	rec := newRecorder(t)
	release := make(chan struct{})
	r := Background(rec, 50*time.Millisecond, "camera", func(context.Context) error {
		<-release // ignores its context
		return nil
	})
	start := time.Now()
	err := r.Stop()
	took := time.Since(start)
	close(release) // lets the goroutine end, so the test leaves none behind
	<-r.Done()
	if err == nil || !strings.Contains(err.Error(), "did not return within 50ms") {
		t.Fatalf("Stop = %v; want a did-not-return error", err)
	}
	if took < 50*time.Millisecond {
		t.Errorf("Stop gave up after %s; want at least 50ms", took)
	}
	failures, _ := rec.reported()
	if want := []string{"camera Run: did not return within 50ms of its context ending"}; !slices.Equal(failures, want) {
		t.Errorf("reported %q; want %q", failures, want)
	}
}

func TestBackgroundShowsARunThatQuitEarly(t *testing.T) {
	rec := newRecorder(t)
	boom := errors.New("listen: address in use")
	r := Background(rec, 5*time.Second, "cloud", func(context.Context) error { return boom })
	select {
	case <-r.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Done not closed after Run returned on its own")
	}
	if !errors.Is(r.Err(), boom) {
		t.Errorf("Err = %v; want %v", r.Err(), boom)
	}
	rec.runCleanups()
	failures, _ := rec.reported()
	if want := []string{"cloud Run: listen: address in use"}; !slices.Equal(failures, want) {
		t.Errorf("reported %q; want %q", failures, want)
	}
}

// With a real test: its end stops every Run, the last started first, each
// waited for before the next.
func TestBackgroundStopsAtTheTestsEndInReverseOrder(t *testing.T) {
	var mu sync.Mutex
	var stopped []string
	run := func(name string) func(context.Context) error {
		return func(ctx context.Context) error {
			<-ctx.Done()
			mu.Lock()
			stopped = append(stopped, name)
			mu.Unlock()
			return nil
		}
	}
	var source, server *Running
	t.Run("rig", func(t *testing.T) {
		source = Background(t, 5*time.Second, "source", run("source"))
		server = Background(t, 5*time.Second, "server", run("server"))
	})
	for _, r := range []*Running{source, server} {
		select {
		case <-r.Done():
		default:
			t.Errorf("%s still runs after its test ended", r.what)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"server", "source"}; !slices.Equal(stopped, want) {
		t.Errorf("stopped %q; want %q", stopped, want)
	}
}
