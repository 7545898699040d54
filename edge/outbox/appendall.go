package outbox

import (
	"context"

	"fmt"

	"github.com/dalaba/dalaba/protocol"
)

// AppendAll queues es in their order and returns their seqs, which rise
// in that order, once the commits holding them are on disk. They share
// commits as concurrent Appends do (one request after another on the
// committer's queue, so a thousand events cost a few commits, not a
// thousand); other producers' events may fall between them. Bad input in
// any of them is refused before anything is written. On another error the
// seqs of the events stored are returned with it, 0 for the rest.
func (o *Outbox) AppendAll(ctx context.Context, es []Entry) ([]uint64, error) {
	for i, e := range es {
		if err := protocol.ValidateEvent(protocol.Event{Type: e.Type, Priority: e.Priority, Data: e.Data}); err != nil {
			return nil, fmt.Errorf("outbox: append event %d of %d: %w", i, len(es), err)
		}
	}
	now := o.clk.Now()
	reqs := make([]request, 0, len(es))
	var err error
	select {
	case <-o.stopped:
		return nil, ErrClosed
	default:
	}
queue:
	for _, e := range es {
		if e.Time.IsZero() {
			e.Time = now
		}
		r := request{e: e, done: make(chan result, 1)}
		select {
		case o.reqs <- r:
			reqs = append(reqs, r)
		case <-o.stopped:
			err = ErrClosed
			break queue
		case <-ctx.Done():
			err = ctx.Err()
			break queue
		}
	}
	seqs := make([]uint64, len(es))
	var commitErr error // the first commit that failed; later ones most likely failed alike
	for i, r := range reqs {
		select {
		case res := <-r.done:
			seqs[i] = res.seq
			if res.err != nil && commitErr == nil {
				commitErr = res.err
			}
		case <-o.stopped:
			// Run answers what it committed before it stops; what is
			// still unanswered will never be committed.
			select {
			case res := <-r.done:
				seqs[i] = res.seq
				if res.err != nil && commitErr == nil {
					commitErr = res.err
				}
			default:
				if commitErr == nil {
					commitErr = ErrClosed
				}
			}
		case <-ctx.Done():
			// The commits may still land; the caller only loses the
			// answers.
			return seqs, ctx.Err()
		}
	}
	if commitErr != nil {
		return seqs, commitErr
	}
	return seqs, err
}
