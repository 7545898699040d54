package pgstore

import (
	"encoding/base64"
	"errors"
	"math"
	"testing"

	"github.com/dalaba/dalaba/cloud/store"
)

// FuzzCheckSearch: any cursor is taken or refused with ErrBadFilter by
// EventFilter.Bounds, never a panic, and what is taken names only boxes
// with a bound this store's search can resume at.
func FuzzCheckSearch(f *testing.F) {
	good, err := searchCursor([]*searchHead{{box: "village-1", bound: 42}, {box: "village-2", buf: []store.Event{{Incarnation: 2, Seq: 7}}}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good, "")
	f.Add(good, "village-1")
	f.Add(base64.RawURLEncoding.EncodeToString([]byte(`{"village-1":0}`)), "")
	f.Add(base64.RawURLEncoding.EncodeToString([]byte(`{}`)), "")
	f.Add("not base64!", "")
	f.Add(base64.RawURLEncoding.EncodeToString([]byte(`{"v":18446744073709551615}`)), "v")
	f.Fuzz(func(t *testing.T, cursor, box string) {
		bounds, err := store.EventFilter{BoxID: box, Cursor: cursor, Limit: 1}.Bounds()
		if err != nil {
			if !errors.Is(err, store.ErrBadFilter) {
				t.Fatalf("refused without ErrBadFilter: %v", err)
			}
			return
		}
		if cursor == "" {
			if bounds != nil {
				t.Fatalf("no cursor gave bounds %v", bounds)
			}
			return
		}
		for b, bound := range bounds {
			if bound == 0 || (box != "" && b != box) {
				t.Fatalf("taken cursor %q gave bound %d for %q (search of %q)", cursor, bound, b, box)
			}
			inc, seq := upper(bound)
			if bound == math.MaxUint64 && (inc != store.MaxIncarnation+1 || seq != 0) {
				t.Fatalf("the open bound is (%d, %d)", inc, seq)
			}
		}
	})
}
