package ingest

import (
	"errors"
	"testing"

	"github.com/dalaba/dalaba/protocol"
)

// FuzzHandle feeds any payload to one box's ingester and checks the
// contract: no panic; an error changes nothing stored; an ack carries the
// store's watermark, which never goes back.
func FuzzHandle(f *testing.F) {
	for _, c := range cases {
		f.Add([]byte(c.payload))
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
		if a.Seq != wm1 || wm1 < wm0 || n1 < n0 {
			t.Fatalf("acked %d; watermark %d→%d, events %d→%d", a.Seq, wm0, wm1, n0, n1)
		}
	})
}
