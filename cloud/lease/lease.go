// Package lease runs the township service's periodic jobs (the alert
// engine, the rollouts, the lists' notices and chats, the re-signing of
// desired state) on one replica at a time. The replica that holds a
// lease in the shared store runs them; the others wait and try again,
// so when the holder dies (its database session ends, and the lock with
// it) another takes over within Retry.
//
// The jobs must tolerate a short overlap: a holder cut off from the
// database notices within Check and stops its jobs, but the database may
// free the lock before that, when it sees the session die first.
package lease

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"golang.org/x/sync/errgroup"
)

// Held is a lease taken.
type Held interface {
	// Alive fails when the lease may be lost.
	Alive(ctx context.Context) error
	// Release gives it up.
	Release(ctx context.Context)
}

// Locker takes leases: Held when it took name, nil when another holds it.
type Locker func(ctx context.Context, name string) (Held, error)

// Config tunes the runner; zero values take the defaults.
type Config struct {
	Name  string        // the lease's name; required
	Retry time.Duration // between attempts to take the lease; default 2s
	Check time.Duration // between checks that it is still held; default 2s
}

// Deps are what the runner uses.
type Deps struct {
	Logger *slog.Logger
	// Locker takes the lease; nil runs the jobs at once, for a service
	// that is alone on its store.
	Locker Locker
}

// Job is one periodic job: it runs until its context ends.
type Job func(ctx context.Context) error

// Runner runs jobs while it holds the lease.
type Runner struct {
	cfg  Config
	log  *slog.Logger
	lock Locker
	jobs []Job
}

// Timeout bounds one attempt to take or check the lease.
const Timeout = 5 * time.Second

// New checks cfg and deps.
func New(cfg Config, deps Deps, jobs ...Job) (*Runner, error) {
	var errs []error
	if cfg.Name == "" {
		errs = append(errs, errors.New("no lease name"))
	}
	if cfg.Retry < 0 || cfg.Check < 0 {
		errs = append(errs, errors.New("negative retry or check interval"))
	}
	if deps.Logger == nil {
		errs = append(errs, errors.New("no Deps.Logger"))
	}
	if len(jobs) == 0 {
		errs = append(errs, errors.New("no jobs"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("lease: new: %w", err)
	}
	if cfg.Retry == 0 {
		cfg.Retry = 2 * time.Second
	}
	if cfg.Check == 0 {
		cfg.Check = 2 * time.Second
	}
	return &Runner{cfg: cfg, log: deps.Logger.With("component", "lease", "lease", cfg.Name), lock: deps.Locker, jobs: jobs}, nil
}

// Run takes the lease, runs the jobs while it is held, and tries again
// when it is lost, until ctx ends or a job fails.
func (r *Runner) Run(ctx context.Context) error {
	if r.lock == nil {
		return r.runJobs(ctx)
	}
	for {
		held, err := r.take(ctx)
		if err != nil && ctx.Err() == nil {
			r.log.Warn("taking the lease failed; trying again", "err", err, "retry_in", r.cfg.Retry)
		}
		if held != nil {
			if err := r.hold(ctx, held); err != nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(r.cfg.Retry):
		}
	}
}

func (r *Runner) take(ctx context.Context) (Held, error) {
	tctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	return r.lock(tctx, r.cfg.Name)
}

// hold runs the jobs until ctx ends, a job fails or the lease is lost,
// and releases the lease. It returns a job's failure.
func (r *Runner) hold(ctx context.Context, held Held) error {
	r.log.Info("lease taken: this replica runs the periodic jobs")
	jctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- r.runJobs(jctx) }()
	t := time.NewTicker(r.cfg.Check)
	defer t.Stop()
	var err error
watch:
	for {
		select {
		case err = <-done:
			stop()
			break watch
		case <-t.C:
			cctx, cancel := context.WithTimeout(ctx, Timeout)
			aerr := held.Alive(cctx)
			cancel()
			if aerr != nil && ctx.Err() == nil {
				r.log.Warn("lease lost: the periodic jobs stop here until it is taken again", "err", aerr)
				stop()
				err = <-done
				break watch
			}
		}
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), Timeout)
	held.Release(rctx)
	cancel()
	if ctx.Err() == nil && err == nil {
		r.log.Info("lease released")
	}
	return err
}

// runJobs runs every job until ctx ends or one fails.
func (r *Runner) runJobs(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	for _, j := range r.jobs {
		g.Go(func() error { return j(gctx) })
	}
	return g.Wait()
}
