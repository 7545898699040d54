package storetest

import (
	"errors"
	"fmt"
	"testing"

	"github.com/dalaba/dalaba/cloud/store"
)

// testBatches: a batch changes every box it can and tells, box by box,
// which it could not; those keep what they had.
func testBatches(t *testing.T, open func(t *testing.T) store.Store) {
	s := fresh(t, open)
	for _, id := range []string{"village-1", "village-2", "village-3"} {
		mustCreateBox(t, s, newBox(id))
	}
	if err := s.UpdatePlan(t.Context(), "village-2", func(p *store.Plan) error { p.UpdatedBy = "旧"; return nil }); err != nil {
		t.Fatal(err)
	}
	errRefused := errors.New("refused")
	errs, err := s.UpdatePlans(t.Context(), []string{"village-1", "nobody", "village-2", "village-3"}, func(p *store.Plan) error {
		if p.BoxID == "village-3" {
			return errRefused
		}
		p.UpdatedBy = "新 " + p.BoxID
		p.BoxID = "changed" // ignored
		return nil
	})
	if err != nil || len(errs) != 4 {
		t.Fatalf("UpdatePlans: %v, %d errors", err, len(errs))
	}
	if errs[0] != nil || !errors.Is(errs[1], store.ErrNotFound) || errs[2] != nil || !errors.Is(errs[3], errRefused) {
		t.Errorf("UpdatePlans errors %v, want nil, ErrNotFound, nil, the refusal", errs)
	}
	for id, want := range map[string]string{"village-1": "新 village-1", "village-2": "新 village-2"} {
		if p, err := s.GetPlan(t.Context(), id); err != nil || p.UpdatedBy != want || p.BoxID != id {
			t.Errorf("plan of %s: %+v, %v; want updated by %q", id, p, err, want)
		}
	}
	if _, err := s.GetPlan(t.Context(), "village-3"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("refused plan was written: %v", err)
	}

	if err := s.PutDesired(t.Context(), store.Desired{BoxID: "village-2", Rev: 5, Payload: []byte("five")}); err != nil {
		t.Fatal(err)
	}
	ds := []store.Desired{
		{BoxID: "village-1", Rev: 1, Payload: []byte("one")},
		{BoxID: "village-2", Rev: 5, Payload: []byte("five again")},
		{BoxID: "nobody", Rev: 1, Payload: []byte("x")},
		{BoxID: "village-3", Rev: 9, Payload: []byte("nine")},
	}
	errs, err = s.PutDesiredBatch(t.Context(), ds)
	if err != nil || len(errs) != 4 {
		t.Fatalf("PutDesiredBatch: %v, %d errors", err, len(errs))
	}
	if errs[0] != nil || !errors.Is(errs[1], store.ErrExists) || !errors.Is(errs[2], store.ErrNotFound) || errs[3] != nil {
		t.Errorf("PutDesiredBatch errors %v, want nil, ErrExists, ErrNotFound, nil", errs)
	}
	for id, want := range map[string]string{"village-1": "1 one", "village-2": "5 five", "village-3": "9 nine"} {
		d, err := s.GetDesired(t.Context(), id)
		if got := fmt.Sprintf("%d %s", d.Rev, d.Payload); err != nil || got != want {
			t.Errorf("desired of %s: %q, %v; want %q", id, got, err, want)
		}
		if b := mustGetBox(t, s, id); fmt.Sprint(b.DesiredRev) != want[:1] {
			t.Errorf("box %s DesiredRev %d, want %s", id, b.DesiredRev, want[:1])
		}
	}
}
