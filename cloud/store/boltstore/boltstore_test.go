package boltstore

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/dalaba/dalaba/cloud/store"
	"github.com/dalaba/dalaba/cloud/store/storetest"
	"github.com/dalaba/dalaba/protocol"
)

// holdEnv makes the test binary a helper process that holds a store open
// (see TestMain), standing in for a running dalaba-cloud.
const holdEnv = "DALABA_BOLTSTORE_HOLD"

func TestMain(m *testing.M) {
	if path := os.Getenv(holdEnv); path != "" {
		os.Exit(hold(path))
	}
	os.Exit(m.Run())
}

// hold opens the store, says so on stdout and keeps it open until stdin
// closes.
func hold(path string) int {
	s, err := Open(path, Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("holding")
	_, _ = io.Copy(io.Discard, os.Stdin) // returns when the parent closes stdin
	if err := s.Close(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

func openTemp(t *testing.T) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "cloud.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return openTemp(t) })
}

func TestReopenKeepsEverything(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cloud.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	now := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
	steps := []error{
		s.CreateBox(ctx, store.Box{ID: "village-1", Name: "示范村", SecretHash: []byte("h"), CreatedAt: now}),
		s.PutDesired(ctx, store.Desired{BoxID: "village-1", Rev: 4, Payload: []byte(`{"v":1}`)}),
		s.CreateUser(ctx, store.User{Name: "admin", PasswordHash: []byte("bcrypt"), Role: store.RoleAdmin, CreatedAt: now}),
		s.PutSession(ctx, store.Session{TokenHash: []byte("token-hash"), User: "admin", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}),
	}
	if err := errors.Join(steps...); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AppendEvents(ctx, "village-1", store.Batch{Floor: 1, Events: []store.Event{{Seq: 1, Type: "box.started", Time: now}, {Seq: 3, Type: "box.health", Time: now}}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	b, err := s.GetBox(ctx, "village-1")
	if err != nil || b.Name != "示范村" || b.Watermark != 1 || b.DesiredRev != 4 {
		t.Fatalf("box after reopen = %+v, %v", b, err)
	}
	// The gap at 2 survives the restart: filling it moves the watermark
	// over the seq 3 stored before.
	if got, err := s.AppendEvents(ctx, "village-1", store.Batch{Floor: 1, Events: []store.Event{{Seq: 2, Type: "x", Time: now}}}); err != nil || got.Watermark != 3 {
		t.Fatalf("AppendEvents after reopen = %+v, %v; want watermark 3", got, err)
	}
	if d, err := s.GetDesired(ctx, "village-1"); err != nil || d.Rev != 4 || string(d.Payload) != `{"v":1}` {
		t.Fatalf("desired after reopen = %+v, %v", d, err)
	}
	if _, err := s.GetUser(ctx, "admin"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetSession(ctx, []byte("token-hash")); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("store file mode = %v, %v; want 0600 (it holds box secret hashes)", fi.Mode().Perm(), err)
	}
}

// A second dalaba-cloud on the same file must say so, not hang or corrupt.
func TestOpenWhileAnotherProcessHoldsIt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cloud.db")
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), holdEnv+"="+path)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "holding\n" {
		_ = cmd.Process.Kill() // the helper is broken; the test fails below
		t.Fatalf("helper said %q, %v", line, err)
	}

	start := time.Now()
	_, err = Open(path, Options{Timeout: 100 * time.Millisecond})
	if !errors.Is(err, ErrInUse) || !strings.Contains(err.Error(), "in use by a running dalaba-cloud") {
		t.Fatalf("Open while held = %v, want ErrInUse naming a running dalaba-cloud", err)
	}
	if waited := time.Since(start); waited > 5*time.Second {
		t.Fatalf("Open waited %s for the lock, want about the 100ms timeout", waited)
	}

	if err := stdin.Close(); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("helper: %v", err)
	}
	s, err := Open(path, Options{Timeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatalf("Open after the holder exited: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestOpenRefusesWhatItCannotRead(t *testing.T) {
	cases := []struct {
		name   string
		prep   func(tx *bolt.Tx) error
		schema bool // want ErrSchema
	}{
		{"a newer schema version", func(tx *bolt.Tx) error {
			for _, n := range buckets() {
				if _, err := tx.CreateBucket(n); err != nil {
					return err
				}
			}
			return tx.Bucket(bucketMeta).Put(keySchema, u64(SchemaVersion+1))
		}, true},
		{"another program's bbolt file", func(tx *bolt.Tx) error {
			_, err := tx.CreateBucket([]byte("widgets"))
			return err
		}, true},
		{"a schema key of the wrong size", func(tx *bolt.Tx) error {
			b, err := tx.CreateBucket(bucketMeta)
			if err != nil {
				return err
			}
			return b.Put(keySchema, []byte("1"))
		}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "cloud.db")
			db, err := bolt.Open(path, 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := db.Update(c.prep); err != nil {
				t.Fatal(err)
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			s, err := Open(path, Options{})
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			if errors.Is(err, ErrSchema) != c.schema {
				t.Fatalf("Open = %v; want ErrSchema: %v", err, c.schema)
			}
		})
	}
	t.Run("not a bbolt file", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "cloud.db")
		if err := os.WriteFile(path, []byte(strings.Repeat("not a database\n", 1000)), 0o600); err != nil {
			t.Fatal(err)
		}
		if s, err := Open(path, Options{}); err == nil {
			s.Close()
			t.Fatal("Open of a text file succeeded")
		}
	})
}

func TestAppendEventsEdges(t *testing.T) {
	s := openTemp(t)
	defer s.Close()
	ctx := t.Context()
	if err := s.CreateBox(ctx, store.Box{ID: "village-1"}); err != nil {
		t.Fatal(err)
	}

	if _, err := s.AppendEvents(ctx, "village-1", store.Batch{Floor: 1, Events: []store.Event{{Seq: 1}, {Seq: 0}}}); err == nil {
		t.Fatal("seq 0 accepted")
	}
	if n, _ := s.CountEvents(ctx, "village-1"); n != 0 {
		t.Fatalf("a refused batch stored %d events", n)
	}

	// The top of the seq range: the watermark walk must not run into the
	// next incarnation's positions.
	top := uint64(protocol.MaxSeq)
	got, err := s.AppendEvents(ctx, "village-1", store.Batch{Floor: top, Events: []store.Event{{Seq: top - 1}, {Seq: top}}})
	if err != nil || got.Watermark != top {
		t.Fatalf("AppendEvents at the top = %+v, %v; want %d", got, err, top)
	}
	if got, err := s.AppendEvents(ctx, "village-1", store.Batch{Floor: top + 1}); err != nil || got.Watermark != top {
		t.Fatalf("again = %+v, %v", got, err)
	}
	evs, err := s.ListEvents(ctx, "village-1", top-2, 10)
	if err != nil || len(evs) != 2 || !slices.Equal([]uint64{evs[0].Seq, evs[1].Seq}, []uint64{top - 1, top}) {
		t.Fatalf("ListEvents near the top = %+v, %v", evs, err)
	}
	if evs, err := s.ListEvents(ctx, "village-1", top, 10); err != nil || len(evs) != 0 {
		t.Fatalf("ListEvents after the top = %+v, %v", evs, err)
	}
	if evs, err := s.ListEvents(ctx, "village-1", math.MaxUint64, 10); err != nil || len(evs) != 0 {
		t.Fatalf("ListEvents after the last position = %+v, %v", evs, err)
	}

	for _, limit := range []int{0, -1} {
		if _, err := s.ListEvents(ctx, "village-1", 0, limit); err == nil {
			t.Errorf("ListEvents with limit %d succeeded", limit)
		}
	}
}

func TestCancelledContextChangesNothing(t *testing.T) {
	s := openTemp(t)
	defer s.Close()
	if err := s.CreateBox(t.Context(), store.Box{ID: "village-1"}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := s.AppendEvents(ctx, "village-1", store.Batch{Floor: 1, Events: []store.Event{{Seq: 1}}}); !errors.Is(err, context.Canceled) {
		t.Fatalf("AppendEvents = %v, want context.Canceled", err)
	}
	if n, _ := s.CountEvents(t.Context(), "village-1"); n != 0 {
		t.Fatalf("stored %d events on a cancelled context", n)
	}
}

func TestOpenMigratesSchema1(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cloud.db")
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, n := range [][]byte{bucketMeta, bucketBoxes, bucketDesired, bucketEvents, bucketUsers, bucketSessions} {
			if _, err := tx.CreateBucket(n); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketMeta).Put(keySchema, u64(1))
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatalf("Open of a schema 1 file: %v", err)
	}
	defer s.Close()
	ctx := t.Context()
	if err := s.CreateBox(ctx, store.Box{ID: "village-1"}); err != nil {
		t.Fatal(err)
	}
	if err := s.UpdatePlan(ctx, "village-1", func(p *store.Plan) error { p.UpdatedBy = "x"; return nil }); err != nil {
		t.Fatalf("plans after migration: %v", err)
	}
	if _, err := s.ListMedia(ctx); err != nil {
		t.Fatalf("media after migration: %v", err)
	}
	var ver []byte
	_ = s.db.View(func(tx *bolt.Tx) error { ver = tx.Bucket(bucketMeta).Get(keySchema); return nil }) // the callback never fails
	if !slices.Equal(ver, u64(SchemaVersion)) {
		t.Fatalf("schema after migration %x, want %d", ver, SchemaVersion)
	}
}
