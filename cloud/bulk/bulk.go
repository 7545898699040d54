package bulk

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/dalaba/dalaba/protocol"
)

// Planner changes boxes' plans and signs their desired states
// (*plan.Planner): done is told each box's outcome once its change is
// stored, or why it failed.
type Planner interface {
	UpdateMany(ctx context.Context, boxes []string, by string, fn func(*protocol.Broadcast) error, done func(box string, rev uint64, err error)) error
}

// Limits.
const (
	// MaxBoxes bounds the boxes of one job.
	MaxBoxes = 20000
	// MaxKept is how many jobs are remembered, the oldest finished ones
	// forgotten first.
	MaxKept = 50
	// MaxQueued bounds the jobs waiting to run.
	MaxQueued = 16
)

// ErrInvalid: a job that cannot run as asked; nothing was queued.
var ErrInvalid = errors.New("bulk: invalid job")

// ErrBusy: too many jobs are waiting; nothing was queued.
var ErrBusy = errors.New("bulk: too many jobs waiting")

// Change is one plan change: exactly one of Schedule (added, or replacing
// the box's schedule of its id) and DeleteSchedule (the id of a schedule
// to take out; a box without it is done as it is).
type Change struct {
	Schedule       *protocol.Schedule `json:"schedule,omitempty"`
	DeleteSchedule string             `json:"delete_schedule,omitempty"`
}

// Validate checks the change as far as it can without a box.
func (c Change) Validate() error {
	switch {
	case (c.Schedule == nil) == (c.DeleteSchedule == ""):
		return fmt.Errorf("%w: give a schedule or delete_schedule, one of them", ErrInvalid)
	case c.Schedule != nil:
		if err := protocol.ValidateID(c.Schedule.ID); err != nil {
			return fmt.Errorf("%w: schedule.id: %w", ErrInvalid, err)
		}
		if len(c.Schedule.Media) == 0 {
			return fmt.Errorf("%w: schedule.media: at least one clip", ErrInvalid)
		}
		if err := c.Schedule.Rule.Validate(); err != nil {
			return fmt.Errorf("%w: schedule.rule: %w", ErrInvalid, err)
		}
	default:
		if err := protocol.ValidateID(c.DeleteSchedule); err != nil {
			return fmt.Errorf("%w: delete_schedule: %w", ErrInvalid, err)
		}
	}
	return nil
}

func (c Change) apply(b *protocol.Broadcast) error {
	if c.Schedule != nil {
		s := *c.Schedule
		s.Media, s.Zones = slices.Clone(s.Media), slices.Clone(s.Zones)
		if i := slices.IndexFunc(b.Schedules, func(x protocol.Schedule) bool { return x.ID == s.ID }); i >= 0 {
			b.Schedules[i] = s
		} else {
			b.Schedules = append(b.Schedules, s)
		}
		return nil
	}
	b.Schedules = slices.DeleteFunc(b.Schedules, func(x protocol.Schedule) bool { return x.ID == c.DeleteSchedule })
	return nil
}

// States of a box in a job, and of a job.
const (
	Queued  = "queued"
	Running = "running" // a job only
	Done    = "done"
	Failed  = "failed"
)

// Box is one box's part of a job.
type Box struct {
	ID    string `json:"id"`
	State string `json:"state"`
	Rev   uint64 `json:"rev,omitempty"` // the desired state's rev, once done
	Error string `json:"error,omitempty"`
	// Err is the failure itself, for callers that choose words by it.
	Err error `json:"-"`
}

// Job is a job as it stands.
type Job struct {
	ID        string    `json:"id"`
	By        string    `json:"by"`
	Change    Change    `json:"change"`
	Place     string    `json:"place,omitempty"` // the township it was sent to, if it was
	CreatedAt time.Time `json:"created_at"`
	EndedAt   time.Time `json:"ended_at,omitzero"`
	State     string    `json:"state"`
	Total     int       `json:"total"`
	Queued    int       `json:"queued"`
	Done      int       `json:"done"`
	Failed    int       `json:"failed"`
	Boxes     []Box     `json:"boxes"`
}

// Deps are what the jobs use.
type Deps struct {
	Logger  *slog.Logger
	Planner Planner
	Now     func() time.Time // nil = time.Now
}

// Jobs queues and runs jobs, one at a time (the planner signs one box at
// a time anyway).
type Jobs struct {
	log   *slog.Logger
	pl    Planner
	now   func() time.Time
	queue chan *job

	mu   sync.Mutex
	jobs []*job // oldest first
}

type job struct {
	Job // guarded by Jobs.mu
}

// New checks deps.
func New(deps Deps) (*Jobs, error) {
	if deps.Logger == nil || deps.Planner == nil {
		return nil, errors.New("bulk: new: Deps.Logger and Planner are required")
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	return &Jobs{log: deps.Logger.With("component", "bulk"), pl: deps.Planner, now: deps.Now, queue: make(chan *job, MaxQueued)}, nil
}

// Submit queues change for boxes (ids, each once) as by's job and
// returns it as queued. place only records where the boxes came from.
func (j *Jobs) Submit(by, place string, change Change, boxes []string) (Job, error) {
	if err := change.Validate(); err != nil {
		return Job{}, err
	}
	if len(boxes) == 0 {
		return Job{}, fmt.Errorf("%w: no boxes", ErrInvalid)
	}
	if len(boxes) > MaxBoxes {
		return Job{}, fmt.Errorf("%w: %d boxes, at most %d a job", ErrInvalid, len(boxes), MaxBoxes)
	}
	id := make([]byte, 8)
	_, _ = rand.Read(id) // crypto/rand.Read never fails on Linux
	jb := &job{Job{ID: hex.EncodeToString(id), By: by, Place: place, Change: change, CreatedAt: j.now(), State: Queued,
		Total: len(boxes), Queued: len(boxes), Boxes: make([]Box, len(boxes))}}
	for i, b := range boxes {
		jb.Boxes[i] = Box{ID: b, State: Queued}
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	select {
	case j.queue <- jb:
	default:
		return Job{}, ErrBusy
	}
	j.jobs = append(j.jobs, jb)
	j.forget()
	return jb.view(), nil
}

// forget drops the oldest finished jobs beyond MaxKept. j.mu is held.
func (j *Jobs) forget() {
	for n := len(j.jobs); n > MaxKept; n-- {
		i := slices.IndexFunc(j.jobs, func(x *job) bool { return x.State == Done })
		if i < 0 {
			return
		}
		j.jobs = slices.Delete(j.jobs, i, i+1)
	}
}

// Get returns job id as it stands; false when unknown or forgotten.
func (j *Jobs) Get(id string) (Job, bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	for _, x := range j.jobs {
		if x.ID == id {
			return x.view(), true
		}
	}
	return Job{}, false
}

// List returns the jobs remembered, newest first, without their boxes.
func (j *Jobs) List() []Job {
	j.mu.Lock()
	defer j.mu.Unlock()
	out := make([]Job, 0, len(j.jobs))
	for i := len(j.jobs) - 1; i >= 0; i-- {
		v := j.jobs[i].Job
		v.Boxes = nil
		out = append(out, v)
	}
	return out
}

// view copies the job. j.mu is held.
func (jb *job) view() Job {
	v := jb.Job
	v.Boxes = slices.Clone(jb.Boxes)
	return v
}

// Run runs the queued jobs until ctx ends.
func (j *Jobs) Run(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case jb := <-j.queue:
			j.run(ctx, jb)
		}
	}
}

func (j *Jobs) run(ctx context.Context, jb *job) {
	j.mu.Lock()
	jb.State = Running
	by, change, n := jb.By, jb.Change, len(jb.Boxes)
	j.mu.Unlock()
	j.log.Info("bulk plan change started", "job", jb.ID, "boxes", n, "user", by)
	j.mu.Lock()
	boxes := make([]string, n)
	for i, b := range jb.Boxes {
		boxes[i] = b.ID
	}
	j.mu.Unlock()
	next := 0 // boxes are told in order
	// The planner stores the plans and the signed desired states before
	// it tells: a box is reported done only once its change is kept.
	err := j.pl.UpdateMany(ctx, boxes, by, change.apply, func(box string, rev uint64, err error) {
		j.mu.Lock()
		defer j.mu.Unlock()
		b := &jb.Boxes[next]
		next++
		jb.Queued--
		if err != nil {
			b.State, b.Error, b.Err = Failed, err.Error(), err
			jb.Failed++
			j.log.Warn("bulk plan change failed on a box", "job", jb.ID, "box_id", box, "err", err)
			return
		}
		b.State, b.Rev = Done, rev
		jb.Done++
	})
	if err != nil {
		// The boxes not told yet did not get the change.
		j.mu.Lock()
		for i := next; i < n; i++ {
			jb.Boxes[i].State, jb.Boxes[i].Error, jb.Boxes[i].Err = Failed, err.Error(), err
			jb.Queued--
			jb.Failed++
		}
		j.mu.Unlock()
		j.log.Error("bulk plan change stopped; the boxes left did not get it", "job", jb.ID, "boxes", n-next, "err", err)
	}
	j.mu.Lock()
	jb.State, jb.EndedAt = Done, j.now()
	done, failed := jb.Done, jb.Failed
	j.mu.Unlock()
	j.log.Info("bulk plan change ended", "job", jb.ID, "done", done, "failed", failed)
}
