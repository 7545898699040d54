package ingest

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/dalaba/dalaba/protocol"
)

const (
	epochA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	epochB = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
)

// lifeBatch builds a batch of box under epoch (none if "") whose events
// carry life in their data, so two lives' events with one seq differ.
func lifeBatch(epoch, life string, floor uint64, seqs ...uint64) string {
	return batchOf(epoch, floor, lifeEvents(life, seqs...)...)
}

func lifeEvents(life string, seqs ...uint64) []string {
	var evs []string
	for _, s := range seqs {
		evs = append(evs, fmt.Sprintf(`{"seq":%d,"time":"2026-11-01T08:00:%02dZ","type":"test.critical","prio":3,"data":{"n":%d,"life":%q}}`, s, s%60, s, life))
	}
	return evs
}

func batchOf(epoch string, floor uint64, evs ...string) string {
	ep := ""
	if epoch != "" {
		ep = fmt.Sprintf(`"epoch":%q,`, epoch)
	}
	return fmt.Sprintf(`{"v":1,"box_id":%q,%s"floor":%d,"events":[%s]}`, box, ep, floor, strings.Join(evs, ","))
}

// epochSeeds seed FuzzHandle with batches of epochs.
var epochSeeds = []string{lifeBatch(epochA, "a", 1, 1, 2, 3), lifeBatch(epochB, "b", 1, 1, 2), lifeBatch(epochA, "c", 2, 2, 3)}

// ackOf sends payload and decodes the ack.
func (f fixture) ackOf(t *testing.T, payload string) protocol.EventsAck {
	t.Helper()
	_, raw := f.handle(t, payload)
	a, err := protocol.DecodeEventsAck(box, raw)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// lives lists the stored events as "incarnation/seq/life" (or the reset's
// reason), in log order.
func (f fixture) lives(t *testing.T) []string {
	t.Helper()
	evs, err := f.store.ListEvents(t.Context(), box, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range evs {
		var d struct {
			Life   string
			Reason string
		}
		if err := json.Unmarshal(e.Data, &d); err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%d/%d/%s%s", e.Incarnation, e.Seq, d.Life, d.Reason))
	}
	return out
}

func run(inc int, life string, seqs ...int) []string {
	var out []string
	for _, s := range seqs {
		out = append(out, fmt.Sprintf("%d/%d/%s", inc, s, life))
	}
	return out
}

// The defect this answers: a box re-flashed (same id, empty data
// directory) started its seqs at 1 again and the township took them for
// duplicates, then acknowledged them, so the box deleted them unsent.
func TestBoxBackEmptyIsANewIncarnationNotDuplicates(t *testing.T) {
	f := newFixture(t)
	if a := f.ackOf(t, lifeBatch(epochA, "a", 1, 1, 2, 3, 4, 5)); a.Epoch != epochA || a.From != 1 || a.Seq != 5 || a.Diverged {
		t.Fatalf("ack %+v", a)
	}
	// Back empty: a new epoch, seqs from 1.
	a := f.ackOf(t, lifeBatch(epochB, "b", 1, 1, 2, 3))
	if a.Epoch != epochB || a.From != 1 || a.Seq != 3 || a.Diverged {
		t.Fatalf("ack of the new epoch %+v, want epoch B from 1 through 3", a)
	}
	// An ack of the old epoch still travelling reaches the box too: it
	// names epoch A, which the box no longer has, so it deletes nothing.
	want := slices.Concat(run(1, "a", 1, 2, 3, 4, 5), []string{"2/0/new_epoch"}, run(2, "b", 1, 2, 3))
	if got := f.lives(t); !slices.Equal(got, want) {
		t.Fatalf("stored %v, want %v", got, want)
	}
	b, err := f.store.GetBox(t.Context(), box)
	if err != nil || b.Incarnation != 2 || b.Epoch != epochB || b.Watermark != 3 {
		t.Fatalf("box %+v, %v", b, err)
	}
	evs, _ := f.store.ListEvents(t.Context(), box, 5, 1)
	var r protocol.Reset
	if len(evs) != 1 || evs[0].Type != protocol.EventBoxReset || json.Unmarshal(evs[0].Data, &r) != nil ||
		r != (protocol.Reset{Reason: protocol.ResetNewEpoch, OldEpoch: epochA, NewEpoch: epochB, OldIncarnation: 1, Incarnation: 2, OldWatermark: 5, Floor: 1}) ||
		!evs[0].ReceivedAt.Equal(received) || evs[0].Priority != int(protocol.PriorityCritical) {
		t.Fatalf("the reset event %+v (data %+v)", evs, r)
	}
}

// A box whose data directory was restored from a backup: the copy holds
// 5-7 as the township has them and recorded 8-9 anew, under the old epoch.
// The township vouches for 5-7 only and says the epoch diverged; the box
// carries 8-9 over to a new epoch; nothing is lost or stored twice.
func TestRestoredCopyLosesNothing(t *testing.T) {
	f := newFixture(t)
	f.ackOf(t, lifeBatch(epochA, "a", 1, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10))
	a := f.ackOf(t, batchOf(epochA, 5, append(lifeEvents("a", 5, 6, 7), lifeEvents("copy", 8, 9)...)...))
	if a.Epoch != epochA || !a.Diverged || a.From != 5 || a.Seq != 7 {
		t.Fatalf("ack %+v, want epoch A diverged, 5-7 vouched for", a)
	}
	a = f.ackOf(t, lifeBatch(epochB, "copy", 8, 8, 9))
	if a.Epoch != epochB || a.Diverged || a.From != 8 || a.Seq != 9 {
		t.Fatalf("ack of the new epoch %+v", a)
	}
	want := slices.Concat(run(1, "a", 1, 2, 3, 4, 5, 6, 7, 8, 9, 10), []string{"2/0/diverged"}, run(2, "copy", 8, 9))
	if got := f.lives(t); !slices.Equal(got, want) {
		t.Fatalf("stored %v, want %v", got, want)
	}
}

// A box updated to epochs keeps its incarnation: not a reset. Its acks
// take the new form once it sends an epoch, and the v1 form before.
func TestUpgradeToEpochsIsNotAReset(t *testing.T) {
	f := newFixture(t)
	_, raw := f.handle(t, lifeBatch("", "a", 1, 1, 2, 3))
	if string(raw) != `{"v":1,"box_id":"village-1","seq":3}` {
		t.Fatalf("the ack to a batch without an epoch is %s, want the v1 form a box from before epochs decodes", raw)
	}
	a := f.ackOf(t, lifeBatch(epochA, "a", 3, 3, 4))
	if a.Epoch != epochA || a.From != 3 || a.Seq != 4 || a.Diverged {
		t.Fatalf("ack %+v", a)
	}
	if got, want := f.lives(t), run(1, "a", 1, 2, 3, 4); !slices.Equal(got, want) {
		t.Fatalf("stored %v, want %v: no reset", got, want)
	}
}

// A box from before epochs that is re-flashed with the same old build
// cannot be told its epoch diverged: its reused seqs begin a new
// incarnation at the township instead of being taken for duplicates.
func TestBoxWithoutEpochReusingSeqsLosesNothing(t *testing.T) {
	f := newFixture(t)
	f.handle(t, lifeBatch("", "a", 1, 1, 2, 3, 4))
	if seq, _ := f.handle(t, lifeBatch("", "b", 1, 1, 2)); seq != 2 {
		t.Fatalf("acked %d, want 2", seq)
	}
	want := slices.Concat(run(1, "a", 1, 2, 3, 4), []string{"2/0/seqs_reused"}, run(2, "b", 1, 2))
	if got := f.lives(t); !slices.Equal(got, want) {
		t.Fatalf("stored %v, want %v", got, want)
	}
}
