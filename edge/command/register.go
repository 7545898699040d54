package command

import (
	"context"
	"fmt"

	"github.com/dalaba/dalaba/protocol"
)

// Lane is where a command runs; see the package doc.
type Lane int

// Lanes.
const (
	Control Lane = iota + 1 // in arrival order on one goroutine; quick handlers only
	Slow                    // a goroutine each, at most Config.MaxSlow at once; one more is refused busy
	Urgent                  // a goroutine each, never refused
)

func (l Lane) String() string {
	switch l {
	case Control:
		return "control"
	case Slow:
		return "slow"
	case Urgent:
		return "urgent"
	}
	return fmt.Sprintf("lane(%d)", int(l))
}

// Coded is a handler's error that names the result's code: a feature's own
// (protocol.CodeCameraBFrames, say) where a person must act on something
// the generic CodeFailed does not tell. Other errors are CodeFailed.
type Coded interface {
	error
	ResultCode() string
}

// Handler runs one command of a type with its arguments decoded and
// validated. It returns the result's data (encoded as JSON; nil for none)
// or an error, sent back as the result's error. ctx ends at the command's
// expiry and when the runner stops; a handler with an effect calls Commit
// just before it.
type Handler[A any] func(ctx context.Context, c protocol.Command, args A) (any, error)

// validator is what argument types with their own checks implement
// (protocol.PlayArgs and the others).
type validator interface{ Validate() error }

// Register makes commands of type typ run h on lane, with their arguments
// decoded strictly (protocol.DecodeArgs: unknown fields and trailing data
// refused; none is the zero A) and checked by A's Validate method if it has
// one. A command whose arguments fail either is answered
// protocol.CodeInvalidArgs and never reaches h. Register before Run; a type
// registered twice panics, as a wiring mistake.
func Register[A any](r *Runner, typ string, lane Lane, h Handler[A]) {
	RegisterRouted(r, typ, func(A) Lane { return lane }, h)
}

// RegisterRouted is Register with the lane chosen for each command from its
// arguments, once they are valid (a play whose clips are decoded needs no
// slow lane). route runs on the intake goroutine: it must be quick.
func RegisterRouted[A any](r *Runner, typ string, route func(A) Lane, h Handler[A]) {
	r.add(typ, func(c protocol.Command) (job, error) {
		var a A
		if err := protocol.DecodeArgs(c.Args, &a); err != nil {
			return job{}, fmt.Errorf("%s: arguments: %w", typ, err)
		}
		if v, ok := any(&a).(validator); ok {
			if err := v.Validate(); err != nil {
				return job{}, fmt.Errorf("%s: %w", typ, err)
			}
		}
		lane := route(a)
		if lane < Control || lane > Urgent {
			lane = Slow // a route that does not know: the lane that cannot hold others up
		}
		return job{c: c, lane: lane, run: func(ctx context.Context) (any, error) { return h(ctx, c, a) }}, nil
	})
}
