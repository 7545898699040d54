package boltstore

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/dalaba/dalaba/cloud/store"
	"github.com/dalaba/dalaba/internal/testenv"
)

// TestPingFullDisk fills the store's disk (a small tmpfs) to the last
// byte: Ping says the disk is full (its own small write would still fit,
// bbolt reusing freed pages); once room is made it pings clean.
func TestPingFullDisk(t *testing.T) {
	dir := testenv.SmallDisk(t, 2*MinFree)
	s, err := Open(filepath.Join(dir, "cloud.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ctx := t.Context()
	if err := s.CreateBox(ctx, store.Box{ID: "village-1", Name: "一村", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping with room to spare: %v", err)
	}

	unfill := testenv.Fill(t, dir)
	if err := s.Ping(ctx); !errors.Is(err, store.ErrFull) {
		t.Fatalf("Ping on a full disk: %v, want store.ErrFull", err)
	}

	unfill()
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping once room is made: %v", err)
	}
}
