package pgstore

import (
	"testing"

	"github.com/dalaba/dalaba/cloud/store/pgstore/pgtest"
	"github.com/dalaba/dalaba/cloud/store/storetest"
)

// BenchmarkAppendEvents500: storetest.BenchAppend500 on PostgreSQL, the
// same call as boltstore's benchmark of the name.
func BenchmarkAppendEvents500(b *testing.B) {
	s, err := Open(b.Context(), pgtest.New(b).Fresh(b))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	storetest.BenchAppend500(b, s)
}

// BenchmarkAppendEventsManyBoxes: storetest.BenchAppendManyBoxes on
// PostgreSQL. Each box's appends are serialised on its row; different
// boxes' commit side by side.
func BenchmarkAppendEventsManyBoxes(b *testing.B) {
	s, err := Open(b.Context(), pgtest.New(b).Fresh(b))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	storetest.BenchAppendManyBoxes(b, s)
}
