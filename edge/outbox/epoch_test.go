package outbox

import (
	"errors"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/dalaba/dalaba/protocol"
)

// appendN appends n events and returns the last seq.
func (r *rig) appendN(t *testing.T, n int) uint64 {
	t.Helper()
	var seq uint64
	for range n {
		seq = r.append(t, "t", protocol.PriorityNotice, "")
	}
	return seq
}

func TestEpochIsMadeWithTheFileAndKept(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "edge.db")
	r := open(t, path, Config{})
	epoch := r.o.Epoch()
	if err := protocol.ValidateEpoch(epoch); err != nil {
		t.Fatalf("a new file's epoch: %v", err)
	}
	r.appendN(t, 3)
	r.stop()

	// A restart, or a new build on the same data directory (an OTA slot
	// switch): the same epoch, and the seqs go on.
	r = open(t, path, Config{})
	if r.o.Epoch() != epoch {
		t.Fatalf("epoch after reopen %s, want %s", r.o.Epoch(), epoch)
	}
	if seq := r.append(t, "t", protocol.PriorityNotice, ""); seq != 4 {
		t.Fatalf("seq after reopen %d, want 4", seq)
	}
	r.stop()

	// An empty data directory (a re-flashed box, a new SD card): a new
	// epoch, with seqs from 1 again.
	other := open(t, filepath.Join(t.TempDir(), "edge.db"), Config{})
	if other.o.Epoch() == epoch {
		t.Fatal("two files made the same epoch")
	}
	if seq := other.append(t, "t", protocol.PriorityNotice, ""); seq != 1 {
		t.Fatalf("a new file's first seq %d", seq)
	}
}

// A file from before epochs gets one the first time it is opened, and
// keeps its queue and its seqs: to the township it is the same box.
func TestFileFromBeforeEpochsGetsOne(t *testing.T) {
	path := filepath.Join(t.TempDir(), "edge.db")
	r := open(t, path, Config{})
	r.appendN(t, 5)
	if err := r.st.DB().Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Delete(keyEpoch) }); err != nil {
		t.Fatal(err)
	}
	r.stop()

	r = open(t, path, Config{})
	epoch := r.o.Epoch()
	if err := protocol.ValidateEpoch(epoch); err != nil {
		t.Fatalf("epoch of an upgraded file: %v", err)
	}
	if s := r.o.Stats(); s.Backlog != 5 || s.FirstSeq != 1 {
		t.Fatalf("queue after the upgrade %+v, want seqs 1-5", s)
	}
	if seq := r.append(t, "t", protocol.PriorityNotice, ""); seq != 6 {
		t.Fatalf("seq after the upgrade %d, want 6", seq)
	}
	r.stop()
	if r = open(t, path, Config{}); r.o.Epoch() != epoch {
		t.Fatalf("the upgrade's epoch was not kept: %s, then %s", epoch, r.o.Epoch())
	}
}

// A damaged epoch is replaced; the queue is kept.
func TestDamagedEpochIsReplaced(t *testing.T) {
	path := filepath.Join(t.TempDir(), "edge.db")
	r := open(t, path, Config{})
	r.appendN(t, 2)
	if err := r.st.DB().Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put(keyEpoch, []byte("not an epoch")) }); err != nil {
		t.Fatal(err)
	}
	r.stop()
	r = open(t, path, Config{})
	if err := protocol.ValidateEpoch(r.o.Epoch()); err != nil {
		t.Fatalf("epoch after damage: %v", err)
	}
	if s := r.o.Stats(); s.Backlog != 2 {
		t.Fatalf("queue after damage %+v", s)
	}
}

// An ack deletes only for the queue's epoch, and only when its range
// starts at or below the lowest queued seq: it must cover every event it
// deletes.
func TestAckOnlyForItsEpochAndRange(t *testing.T) {
	r := open(t, filepath.Join(t.TempDir(), "edge.db"), Config{})
	r.appendN(t, 10)
	epoch := r.o.Epoch()
	for _, other := range []string{"", "0123456789abcdef0123456789abcdef"} {
		if n, err := r.o.Ack(other, 1, 10); !errors.Is(err, ErrOtherEpoch) || n != 0 {
			t.Fatalf("ack of epoch %q: %d, %v; want ErrOtherEpoch", other, n, err)
		}
	}
	// A batch of 4-8 was stored, but 1-3 never arrived.
	if n, err := r.o.Ack(epoch, 4, 8); !errors.Is(err, ErrAckGap) || n != 0 {
		t.Fatalf("ack of 4-8 with 1 queued: %d, %v; want ErrAckGap", n, err)
	}
	if s := r.o.Stats(); s.Backlog != 10 {
		t.Fatalf("refused acks deleted events: %+v", s)
	}
	if n, err := r.o.Ack(epoch, 1, 3); err != nil || n != 3 {
		t.Fatalf("ack of 1-3: %d, %v", n, err)
	}
	if n, err := r.o.Ack(epoch, 4, 8); err != nil || n != 5 {
		t.Fatalf("ack of 4-8 once 1-3 are gone: %d, %v", n, err)
	}
	// Once the events are gone any range is harmless.
	if n, err := r.o.Ack(epoch, 9, 6); err != nil || n != 0 {
		t.Fatalf("an ack of what is gone: %d, %v", n, err)
	}
	if s := r.o.Stats(); s.Backlog != 2 || s.FirstSeq != 9 {
		t.Fatalf("after the acks %+v, want 9-10 queued", s)
	}
}

// NewEpoch deletes what the diverged ack vouches for and moves the rest to
// a new epoch in one commit; an ack of the old epoch is refused after it,
// and the seqs go on.
func TestNewEpochMovesTheQueue(t *testing.T) {
	path := filepath.Join(t.TempDir(), "edge.db")
	r := open(t, path, Config{})
	r.appendN(t, 10)
	old := r.o.Epoch()
	if _, _, err := r.o.NewEpoch("0123456789abcdef0123456789abcdef", 1, 4); !errors.Is(err, ErrOtherEpoch) {
		t.Fatalf("NewEpoch of another epoch: %v", err)
	}
	next, n, err := r.o.NewEpoch(old, 1, 4)
	if err != nil || n != 4 {
		t.Fatalf("NewEpoch: %d, %v", n, err)
	}
	if next == old || protocol.ValidateEpoch(next) != nil || r.o.Epoch() != next {
		t.Fatalf("new epoch %q (old %q, queue's %q)", next, old, r.o.Epoch())
	}
	b, err := r.o.Read(0, 100, 1<<20)
	if err != nil || b.Epoch != next || b.Floor != 5 || len(b.Events) != 6 || b.Events[0].Seq != 5 {
		t.Fatalf("read after NewEpoch: %+v, %v", b, err)
	}
	if n, err := r.o.Ack(old, 5, 10); !errors.Is(err, ErrOtherEpoch) || n != 0 {
		t.Fatalf("a late ack of the old epoch: %d, %v", n, err)
	}
	// A second diverged ack of the old epoch changes nothing.
	if _, _, err := r.o.NewEpoch(old, 5, 6); !errors.Is(err, ErrOtherEpoch) {
		t.Fatalf("NewEpoch again for the old epoch: %v", err)
	}
	if s := r.o.Stats(); s.Backlog != 6 {
		t.Fatalf("backlog %d, want 6", s.Backlog)
	}
	// A diverged ack whose range does not reach the floor still moves the
	// queue, deleting nothing.
	third, n, err := r.o.NewEpoch(next, 7, 8)
	if err != nil || n != 0 || third == next {
		t.Fatalf("NewEpoch with a gap: %s, %d, %v", third, n, err)
	}
	r.stop()
	r = open(t, path, Config{})
	if r.o.Epoch() != third {
		t.Fatalf("epoch after reopen %s, want %s", r.o.Epoch(), third)
	}
	if seq := r.append(t, "t", protocol.PriorityNotice, ""); seq != 11 {
		t.Fatalf("seq after the new epochs %d, want 11", seq)
	}
}

// A copy of the file taken while the box runs (a backup) holds the same
// epoch and older seqs: the queue cannot tell a restored copy from itself,
// which is why the township compares what it receives with what it holds.
func TestACopyOfTheFileHasTheSameEpoch(t *testing.T) {
	dir := t.TempDir()
	r := open(t, filepath.Join(dir, "edge.db"), Config{})
	r.appendN(t, 3)
	backup := filepath.Join(dir, "backup.db")
	if err := r.st.DB().View(func(tx *bolt.Tx) error { return tx.CopyFile(backup, 0o600) }); err != nil {
		t.Fatal(err)
	}
	r.appendN(t, 3)
	epoch := r.o.Epoch()
	r.stop()
	restored := open(t, backup, Config{})
	if restored.o.Epoch() != epoch {
		t.Fatalf("the copy's epoch %s, want %s", restored.o.Epoch(), epoch)
	}
	if seq := restored.append(t, "t", protocol.PriorityNotice, ""); seq != 4 {
		t.Fatalf("the copy's next seq %d, want 4 (a seq the original already used)", seq)
	}
}
