package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/dalaba/dalaba/cloud/lists"
	"github.com/dalaba/dalaba/cloud/sheet"
	"github.com/dalaba/dalaba/cloud/store"
	"github.com/dalaba/dalaba/cloud/store/boltstore"
	"github.com/dalaba/dalaba/protocol"
)

func openStore(tb testing.TB) *boltstore.Store {
	tb.Helper()
	st, err := boltstore.Open(filepath.Join(tb.TempDir(), "cloud.db"), boltstore.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	if err := st.CreateBox(tb.Context(), store.Box{ID: "village-1", Name: "幸福村"}); err != nil {
		tb.Fatal(err)
	}
	return st
}

// month is a village whose November has n published entries, each
// reviewed once, and the service over it.
func month(tb testing.TB, n int) *lists.Service {
	tb.Helper()
	st := openStore(tb)
	now := time.Date(2026, 11, 20, 9, 0, 0, 0, CST())
	ls, err := lists.New(lists.Config{Approvals: 1}, lists.Deps{Logger: slog.New(slog.DiscardHandler), Store: st, Now: func() time.Time { return now }})
	if err != nil {
		tb.Fatal(err)
	}
	ctx := tb.Context()
	op, rv := lists.Actor{Name: "张会计", Role: store.RoleOperator}, lists.Actor{Name: "李评委", Role: store.RoleReviewer}
	for i := range n {
		hid := fmt.Sprintf("h%02d", i)
		if _, err := ls.CreateHousehold(ctx, op, "village-1", lists.HouseholdInput{ID: hid, Head: "张" + hid}); err != nil {
			tb.Fatal(err)
		}
		kind := store.KindRed
		if i%3 == 0 {
			kind = store.KindBlack
		}
		e, err := ls.CreateEntry(ctx, op, "village-1", lists.EntryInput{Kind: kind, Subject: lists.Subject{Kind: store.SubjectHousehold, ID: hid},
			Category: "人居环境整治", Reason: "房前屋后整洁", Period: "2026-11"})
		if err != nil {
			tb.Fatal(err)
		}
		if _, err := ls.Submit(ctx, op, e.ID); err != nil {
			tb.Fatal(err)
		}
		if _, err := ls.Approve(ctx, rv, e.ID, "属实"); err != nil {
			tb.Fatal(err)
		}
	}
	if _, err := ls.Publish(ctx, op, "village-1", "2026-11"); err != nil {
		tb.Fatal(err)
	}
	return ls
}

// playLog stores n playbacks of box village-1 over November.
func playLog(tb testing.TB, st *boltstore.Store, n int) {
	tb.Helper()
	start := time.Date(2026, 11, 1, 6, 0, 0, 0, CST())
	var batch []store.Event
	flush := func() {
		if _, err := st.AppendEvents(tb.Context(), "village-1", store.Batch{Floor: 1, Events: batch}); err != nil {
			tb.Fatal(err)
		}
		batch = batch[:0]
	}
	for i := range n {
		at := start.Add(time.Duration(i) * 4 * time.Minute)
		b, _ := json.Marshal(protocol.PlayLog{ItemID: fmt.Sprintf("s@%d", i), ScheduleID: "s", Name: "通知", Media: []string{},
			Priority: protocol.PlayScheduled, ScheduledAt: at, StartedAt: at, EndedAt: at.Add(time.Minute), Zones: []string{"square"},
			Speakers: []string{"horn-1", "horn-2"}, Result: "played"})
		batch = append(batch, store.Event{Seq: uint64(i + 1), Time: at, Type: protocol.EventPlayed, Data: b, ReceivedAt: at})
		if len(batch) == 1000 {
			flush()
		}
	}
	if len(batch) > 0 {
		flush()
	}
}

func TestMonthListsWorkbook(t *testing.T) {
	ls := month(t, 3)
	tables, err := MonthLists(t.Context(), ls, "village-1", "2026-11", CST())
	if err != nil {
		t.Fatal(err)
	}
	if len(tables) != 2 || len(tables[0].Rows) != 3 || len(tables[1].Rows) != 12 {
		t.Fatalf("%d tables; %d entries and %d trail records, want 3 and 12 (written, submitted, approved, published)", len(tables), len(tables[0].Rows), len(tables[1].Rows))
	}
	if tables[1].Rows[2][3] != "审核通过" || tables[1].Rows[2][4] != "属实" {
		t.Errorf("an approval in the trail reads %q", tables[1].Rows[2])
	}
	if _, err := MonthLists(t.Context(), ls, "village-1", "November", CST()); err == nil {
		t.Error("a period that is not a month was reported")
	}
}

func TestPlayLogWorkbook(t *testing.T) {
	st := openStore(t)
	playLog(t, st, 1500) // more than one page of the search
	rg, err := ParseRange("2026-11-01", "2026-11-30", CST())
	if err != nil {
		t.Fatal(err)
	}
	tables, err := PlayLog(t.Context(), st, "village-1", rg, CST())
	if err != nil {
		t.Fatal(err)
	}
	rows := tables[0].Rows
	if len(rows) != 1500 || rows[0][0] != "2026-11-01 06:00:00" || rows[1499][0] != "2026-11-05 09:56:00" {
		t.Fatalf("%d rows, first %q, last %q", len(rows), rows[0], rows[len(rows)-1])
	}
	var buf bytes.Buffer
	if err := sheet.Write(&buf, tables...); err != nil {
		t.Fatal(err)
	}
	f, err := excelize.OpenReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := f.GetRows("播放记录")
	if err != nil || len(got) != 1501 || got[1500][0] != "2026-11-05 09:56:00" {
		t.Fatalf("the workbook has %d rows (%v)", len(got), err)
	}
}

// BenchmarkExportMonthLists writes a month of 30 entries with their
// review trail as a workbook.
func BenchmarkExportMonthLists(b *testing.B) {
	ls := month(b, 30)
	b.ReportAllocs()
	for b.Loop() {
		tables, err := MonthLists(b.Context(), ls, "village-1", "2026-11", CST())
		if err != nil {
			b.Fatal(err)
		}
		if err := sheet.Write(io.Discard, tables...); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkExportPlayLog writes a play log of 10,000 playbacks as a
// workbook.
func BenchmarkExportPlayLog(b *testing.B) {
	st := openStore(b)
	playLog(b, st, 10_000)
	rg, err := ParseRange("2026-11-01", "2026-11-30", CST())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		tables, err := PlayLog(b.Context(), st, "village-1", rg, CST())
		if err != nil {
			b.Fatal(err)
		}
		if len(tables[0].Rows) != 10_000 {
			b.Fatalf("%d rows", len(tables[0].Rows))
		}
		if err := sheet.Write(io.Discard, tables...); err != nil {
			b.Fatal(err)
		}
	}
}
