package ingest

import (
	"errors"
	"testing"

	"github.com/dalaba/dalaba/protocol"
)

// FuzzHandle feeds any payload to one box's ingester and checks the
// contract: no panic; an error changes nothing stored; an ack names the
// batch's epoch and range and never reaches past the batch's end, nor,
// without an epoch, past the store's watermark; nothing stored goes away.
func FuzzHandle(f *testing.F) {
	for _, c := range cases {
		f.Add([]byte(c.payload))
	}
	for _, p := range epochSeeds {
		f.Add([]byte(p))
	}
	fx := newFixture(f)
	f.Fuzz(func(t *testing.T, payload []byte) {
		n0, wm0 := fx.state(t)
		ack, err := fx.in.Handle(t.Context(), box, payload)
		n1, wm1 := fx.state(t)
		if err != nil {
			if _, ok := errors.AsType[*protocol.RejectError](err); !ok {
				t.Fatalf("a payload failed with a non-reject error: %v", err)
			}
			if ack != nil || n1 != n0 || wm1 != wm0 {
				t.Fatalf("rejected (%v) yet ack %q, events %d→%d, watermark %d→%d", err, ack, n0, n1, wm0, wm1)
			}
			return
		}
		a, err := protocol.DecodeEventsAck(box, ack)
		if err != nil {
			t.Fatalf("ack %q does not decode: %v", ack, err)
		}
		b, err := protocol.DecodeEventBatch(box, payload)
		if err != nil {
			t.Fatalf("a payload stored yet refused by the decoder: %v", err)
		}
		from, top := b.Floor, b.Floor-1
		if len(b.Events) > 0 {
			from, top = b.Events[0].Seq, b.Events[len(b.Events)-1].Seq
		}
		if a.Epoch != b.Epoch || (b.Epoch != "" && a.From != from) || a.Seq > top || n1 < n0 {
			t.Fatalf("batch of epoch %q from %d to %d acked as %+v; events %d→%d", b.Epoch, from, top, a, n0, n1)
		}
		if b.Epoch == "" && a.Seq > wm1 {
			t.Fatalf("acked %d beyond the watermark %d", a.Seq, wm1)
		}
	})
}
