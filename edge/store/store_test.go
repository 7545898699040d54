package store

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func TestDesiredReplayFloorSurviveReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "edge.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if rev, p, err := s.AppliedDesired(); rev != 0 || p != nil || err != nil {
		t.Fatalf("empty store: %d %q %v", rev, p, err)
	}
	if err := s.SaveDesired(3, []byte("three")); err != nil {
		t.Fatal(err)
	}
	for _, rev := range []uint64{3, 2} {
		if err := s.SaveDesired(rev, []byte("old")); !errors.Is(err, ErrStale) {
			t.Errorf("rev %d after 3: %v, want ErrStale", rev, err)
		}
	}
	t0 := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
	if fresh, _ := s.RememberCommand("c1", t0.Add(time.Minute), t0); !fresh {
		t.Error("first sight of c1 not fresh")
	}
	if fresh, _ := s.RememberCommand("c1", t0.Add(time.Minute), t0.Add(time.Second)); fresh {
		t.Error("replayed c1 taken as fresh")
	}
	if err := s.RaiseTimeFloor(t0); err != nil {
		t.Fatal(err)
	}
	if err := s.RaiseTimeFloor(t0.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	if f, _ := s.TimeFloor(); !f.Equal(t0) {
		t.Errorf("floor %s lowered or lost, want %s", f, t0)
	}
	if c, err := s.LastContact(); !c.IsZero() || err != nil {
		t.Errorf("a new box's last contact: %s, %v", c, err)
	}
	if err := s.SetLastContact(t0); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if rev, p, _ := s.AppliedDesired(); rev != 3 || string(p) != "three" {
		t.Errorf("after reopen: %d %q", rev, p)
	}
	if c, _ := s.LastContact(); !c.Equal(t0) {
		t.Errorf("last contact after reopen: %s, want %s", c, t0)
	}
	if fresh, _ := s.RememberCommand("c1", t0.Add(time.Minute), t0.Add(2*time.Second)); fresh {
		t.Error("c1 forgotten across a restart")
	}
	// Once c1 has expired, remembering another command prunes it.
	if fresh, _ := s.RememberCommand("c2", t0.Add(time.Hour), t0.Add(2*time.Minute)); !fresh {
		t.Error("c2 not fresh")
	}
	n := 0
	s.DB().View(func(tx *bolt.Tx) error { n = tx.Bucket(bucketCommands).Stats().KeyN; return nil })
	if n != 1 {
		t.Errorf("%d command ids kept, want only the unexpired c2", n)
	}
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
}

func TestRefusesNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "edge.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.DB().Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put(keySchema, u64(SchemaVersion+1)) })
	s.Close()
	if _, err := Open(path, Options{}); err == nil || !strings.Contains(err.Error(), "schema version") {
		t.Fatalf("opened a newer schema: %v", err)
	}
}

func TestLockedFileTimesOut(t *testing.T) {
	path := filepath.Join(t.TempDir(), "edge.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := Open(path, Options{Timeout: 50 * time.Millisecond}); err == nil {
		t.Fatal("a second open of a locked file succeeded")
	}
}
