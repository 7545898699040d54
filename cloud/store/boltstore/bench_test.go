package boltstore

import (
	"testing"

	"github.com/dalaba/dalaba/cloud/store/storetest"
)

// BenchmarkAppendEvents500: storetest.BenchAppend500 on bbolt, each batch
// one fsynced transaction.
func BenchmarkAppendEvents500(b *testing.B) {
	s, err := Open(b.TempDir()+"/cloud.db", Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	storetest.BenchAppend500(b, s)
}

// BenchmarkAppendEventsManyBoxes: storetest.BenchAppendManyBoxes on
// bbolt; every batch is its own fsynced transaction behind bbolt's one
// writer.
func BenchmarkAppendEventsManyBoxes(b *testing.B) {
	s, err := Open(b.TempDir()+"/cloud.db", Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	storetest.BenchAppendManyBoxes(b, s)
}
