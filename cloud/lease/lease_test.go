package lease

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// lock is one lease in memory, as a database would keep it.
type lock struct {
	mu     sync.Mutex
	holder *held
	takes  int
}

type held struct {
	l    *lock
	mu   sync.Mutex
	lost bool // the session died: Alive fails
}

func (l *lock) take(context.Context, string) (Held, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.holder != nil {
		return nil, nil
	}
	l.takes++
	l.holder = &held{l: l}
	return l.holder, nil
}

// die is the holder's session ending: the lock is free at once (the
// database saw it), and the holder learns it at its next check.
func (l *lock) die() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.holder.mu.Lock()
	l.holder.lost = true
	l.holder.mu.Unlock()
	l.holder = nil
}

func (h *held) Alive(context.Context) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.lost {
		return errors.New("session ended")
	}
	return nil
}

func (h *held) Release(context.Context) {
	h.l.mu.Lock()
	defer h.l.mu.Unlock()
	if h.l.holder == h {
		h.l.holder = nil
	}
}

// replica is one process's runner; running tells whether its job runs.
type replica struct {
	mu      sync.Mutex
	running bool
	starts  int
	cancel  context.CancelFunc
	done    chan error
}

func (r *replica) job(ctx context.Context) error {
	r.mu.Lock()
	r.running, r.starts = true, r.starts+1
	r.mu.Unlock()
	<-ctx.Done()
	r.mu.Lock()
	r.running = false
	r.mu.Unlock()
	return nil
}

func (r *replica) state() (bool, int) { r.mu.Lock(); defer r.mu.Unlock(); return r.running, r.starts }

func startReplica(t *testing.T, l *lock) *replica {
	r := &replica{done: make(chan error, 1)}
	run, err := New(Config{Name: "jobs"}, Deps{Logger: slog.New(slog.DiscardHandler), Locker: l.take}, r.job)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	r.cancel = cancel
	go func() { r.done <- run.Run(ctx) }()
	return r
}

func runningCount(rs ...*replica) int {
	n := 0
	for _, r := range rs {
		if on, _ := r.state(); on {
			n++
		}
	}
	return n
}

// One replica at a time runs the jobs; when it stops, or its session
// dies, another takes over within a retry and a check.
func TestOneReplicaAtATimeRunsTheJobs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := &lock{}
		a := startReplica(t, l)
		synctest.Wait()
		b := startReplica(t, l)
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if on, _ := a.state(); !on || runningCount(a, b) != 1 {
			t.Fatalf("a runs %v, %d replicas run the jobs: want a alone", on, runningCount(a, b))
		}

		// a's database session dies: a stops its jobs at its next check,
		// and b takes the lease at its next try.
		l.die()
		time.Sleep(5 * time.Second)
		synctest.Wait()
		if on, _ := a.state(); on {
			t.Fatal("a still runs the jobs after its session ended")
		}
		if on, _ := b.state(); !on {
			t.Fatal("b did not take over")
		}

		// b stops cleanly: it releases, and a takes over.
		b.cancel()
		if err := <-b.done; err != nil {
			t.Fatalf("b: %v", err)
		}
		time.Sleep(5 * time.Second)
		synctest.Wait()
		if on, starts := a.state(); !on || starts != 2 {
			t.Fatalf("a runs %v after b stopped (started %d times), want running, twice", on, starts)
		}
		if l.takes != 3 {
			t.Fatalf("the lease was taken %d times, want 3", l.takes)
		}
		a.cancel()
		if err := <-a.done; err != nil {
			t.Fatalf("a: %v", err)
		}
	})
}

// A job that fails ends the runner with its error, the lease released.
func TestAFailingJobEndsTheRunner(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := &lock{}
		boom := errors.New("boom")
		run, err := New(Config{Name: "jobs"}, Deps{Logger: slog.New(slog.DiscardHandler), Locker: l.take},
			func(context.Context) error { return boom })
		if err != nil {
			t.Fatal(err)
		}
		if err := run.Run(t.Context()); !errors.Is(err, boom) {
			t.Fatalf("Run = %v, want the job's error", err)
		}
		if l.holder != nil {
			t.Fatal("the lease is still held")
		}
	})
}

// Without a locker (a service alone on its store) the jobs run at once.
func TestAloneTheJobsRunAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := &replica{}
		run, err := New(Config{Name: "jobs"}, Deps{Logger: slog.New(slog.DiscardHandler)}, r.job)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- run.Run(ctx) }()
		synctest.Wait()
		if on, _ := r.state(); !on {
			t.Fatal("the job does not run")
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
}

func TestNewRefusesIncompleteSetup(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	job := func(context.Context) error { return nil }
	for name, mk := range map[string]func() (*Runner, error){
		"no name":        func() (*Runner, error) { return New(Config{}, Deps{Logger: log}, job) },
		"no logger":      func() (*Runner, error) { return New(Config{Name: "x"}, Deps{}, job) },
		"no jobs":        func() (*Runner, error) { return New(Config{Name: "x"}, Deps{Logger: log}) },
		"negative retry": func() (*Runner, error) { return New(Config{Name: "x", Retry: -time.Second}, Deps{Logger: log}, job) },
	} {
		if _, err := mk(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
