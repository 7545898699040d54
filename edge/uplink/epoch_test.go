package uplink

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/dalaba/dalaba/protocol"
)

const otherEpoch = "0123456789abcdef0123456789abcdef"

// An ack of another epoch, or of none, answers a batch of an earlier life
// of the data directory (the box came back empty, with seqs from 1 again):
// obeying it would delete events the township never saw.
func TestAckOfAnotherEpochIgnored(t *testing.T) {
	br := startBroker(t)
	c := startCloud(t, br.url(), "box-epoch", false)
	b := startBoxWith(t, br.url(), "box-epoch", boxOpts{deferRun: true})
	b.appendN(t, 10)
	b.run()
	eventually(t, 10*time.Second, "events at the cloud", func() bool { return c.distinct() == 10 })
	if bs := c.batchesSeen(); bs[0].Epoch != b.ob.Epoch() {
		t.Fatalf("batch epoch %q, the outbox's %q", bs[0].Epoch, b.ob.Epoch())
	}

	c.publishAckFromTest(t, otherEpoch, 1, 10)
	c.publishAckFromTest(t, "", 0, 10)
	c.publishAckFromTest(t, b.ob.Epoch(), 1, 4)
	eventually(t, 5*time.Second, "the ack of the box's epoch applied", func() bool { return b.ob.Stats().FirstSeq == 5 })
	if s := b.ob.Stats(); s.Backlog != 6 {
		t.Fatalf("backlog %d, want 6: an ack of another epoch deleted events", s.Backlog)
	}
	if got := b.up.otherAcks.Load(); got != 2 {
		t.Errorf("%d acks of another epoch counted, want 2", got)
	}
}

// An ack vouches only for the batch it answers: one whose range starts
// above the lowest queued seq (a batch before it went missing) deletes
// nothing, and the resend after the ack timeout brings the rest.
func TestAckNotReachingTheLowestQueuedSeqIgnored(t *testing.T) {
	br := startBroker(t)
	c := startCloud(t, br.url(), "box-gap", false)
	b := startBoxWith(t, br.url(), "box-gap", boxOpts{deferRun: true})
	b.appendN(t, 10)
	b.run()
	eventually(t, 10*time.Second, "events at the cloud", func() bool { return c.distinct() == 10 })
	c.publishAckFromTest(t, b.ob.Epoch(), 5, 10)
	eventually(t, 5*time.Second, "the gap counted", func() bool { return b.up.gapAcks.Load() == 1 })
	if s := b.ob.Stats(); s.Backlog != 10 {
		t.Fatalf("backlog %d, want 10: an ack that skips seqs 1-4 deleted events", s.Backlog)
	}
	c.setAck(true)
	eventually(t, 10*time.Second, "everything acked after the resend", func() bool { return b.ob.Stats().Backlog == 0 })
}

// A diverged ack (the township holds other events under this epoch: the
// data directory is an older copy) deletes what it vouches for and moves
// the rest of the outbox to a new epoch, which the drain sends again from
// its lowest seq; late acks of the old epoch change nothing.
func TestDivergedAckMovesTheOutboxToANewEpoch(t *testing.T) {
	br := startBroker(t)
	c := startCloud(t, br.url(), "box-diverged", true)
	b := startBoxWith(t, br.url(), "box-diverged", boxOpts{deferRun: true})
	seqs := b.appendN(t, 10)
	old := b.ob.Epoch()
	// The township holds 1-3 as the box has them, and other events at 4
	// and above.
	c.setAnswer(func(bt protocol.EventBatch) (protocol.EventsAck, bool) {
		if bt.Epoch != old {
			return protocol.EventsAck{}, false
		}
		return protocol.EventsAck{V: protocol.Version, BoxID: c.box, Epoch: old, From: bt.Events[0].Seq, Seq: 3, Diverged: true}, true
	})
	b.run()
	eventually(t, 10*time.Second, "the outbox sent again and acked", func() bool { return b.ob.Stats().Backlog == 0 })
	epoch := b.ob.Epoch()
	if epoch == old || protocol.ValidateEpoch(epoch) != nil {
		t.Fatalf("epoch after the diverged ack %q (was %q)", epoch, old)
	}
	var after []protocol.EventBatch
	for _, bt := range c.batchesSeen() {
		if bt.Epoch == epoch {
			after = append(after, bt)
		}
	}
	if len(after) == 0 || after[0].Floor != 4 || after[0].Events[0].Seq != 4 {
		t.Fatalf("first batch of the new epoch %+v, want floor 4 and seqs from 4", after)
	}
	c.mu.Lock()
	var got []uint64
	for seq, e := range c.events {
		want := seqs[seq]
		if e.Seq != seq || string(e.Data) != string(mustJSON(t, map[string]int{"i": want})) {
			t.Errorf("seq %d arrived as %+v", seq, e)
		}
		if seq >= 4 {
			got = append(got, seq)
		}
	}
	c.mu.Unlock()
	slices.Sort(got)
	if !slices.Equal(got, []uint64{4, 5, 6, 7, 8, 9, 10}) {
		t.Fatalf("seqs sent under the new epoch %v, want 4-10", got)
	}

	// A late diverged ack and a late ack of the old epoch change nothing.
	late, err := protocol.Marshal(protocol.KindEventsAck, protocol.EventsAck{V: protocol.Version, BoxID: c.box, Epoch: old, From: 4, Seq: 3, Diverged: true})
	if err != nil {
		t.Fatal(err)
	}
	c.publish(protocol.KindEventsAck, late, false)
	c.publishAckFromTest(t, old, 1, 10)
	eventually(t, 5*time.Second, "the late acks counted", func() bool { return b.up.otherAcks.Load() == 2 })
	b.appendN(t, 1)
	eventually(t, 10*time.Second, "the next event acked under the new epoch", func() bool { return b.ob.Stats().Backlog == 0 })
	if b.ob.Epoch() != epoch {
		t.Fatalf("epoch changed again to %s", b.ob.Epoch())
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
