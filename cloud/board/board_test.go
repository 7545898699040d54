package board

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/dalaba/dalaba/cloud/store"
	"github.com/dalaba/dalaba/cloud/store/boltstore"
	"github.com/dalaba/dalaba/protocol"
)

var t0 = time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)

// fleet is n boxes spread over two townships: every third offline, every
// fifth behind its desired state, every seventh never seen.
func fleet(n int) *Snapshot {
	s := &Snapshot{At: t0, Seq: 1}
	for i := range n {
		town := "东山镇"
		if i%2 == 1 {
			town = "西河镇"
		}
		b := store.Box{ID: fmt.Sprintf("village-%04d", i), Name: fmt.Sprintf("村%d", (i*7919)%n), Place: town + "/片区" + fmt.Sprint(i%3),
			AppliedRev: 3, DesiredRev: 3}
		if i%5 == 0 {
			b.DesiredRev = 4
		}
		e := Entry{Box: b, Online: i%3 != 0, State: State{Clock: ClockTrusted}}
		if i%7 != 0 {
			e.LastSeen = t0.Add(-time.Duration((i*31)%97) * time.Minute)
		}
		e.Problems = ProblemsOf(e)
		s.Entries = append(s.Entries, e)
	}
	return s
}

func ids(es []Entry) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.Box.ID)
	}
	return out
}

// walk pages through q with cursors and returns every id in order.
func walk(t *testing.T, s *Snapshot, q Query) []string {
	t.Helper()
	var all []string
	total := -1
	for pages := 0; ; pages++ {
		p, err := s.Page(q)
		if err != nil {
			t.Fatalf("page %d of %+v: %v", pages, q, err)
		}
		if total >= 0 && p.Total != total {
			t.Fatalf("total %d on page %d, %d before", p.Total, pages, total)
		}
		total = p.Total
		if len(p.Entries) > q.Limit {
			t.Fatalf("page of %d entries over limit %d", len(p.Entries), q.Limit)
		}
		all = append(all, ids(p.Entries)...)
		if p.Next == "" {
			break
		}
		if len(p.Entries) != q.Limit {
			t.Fatalf("a page of %d before the last, want %d", len(p.Entries), q.Limit)
		}
		q.Cursor = p.Next
	}
	if len(all) != total {
		t.Fatalf("pages held %d entries, total says %d", len(all), total)
	}
	return all
}

func TestPagesHoldEveryMatchOnceInOrder(t *testing.T) {
	s := fleet(1000)
	off := false
	for _, q := range []Query{
		{Sort: SortID, Limit: 50},
		{Sort: SortID, Desc: true, Limit: 37},
		{Sort: SortName, Limit: 100},
		{Sort: SortLastSeen, Desc: true, Limit: 64},
		{Sort: SortLastSeen, Limit: 64},
		{Sort: SortProblems, Desc: true, Limit: 10},
		{Sort: SortProblems, Limit: 500, Problems: true},
		{Sort: SortName, Limit: 7, Place: "西河镇/片区1"},
		{Sort: SortID, Limit: 9, Online: &off},
		{Sort: SortID, Limit: 3, Search: "VILLAGE-01"},
	} {
		t.Run(q.sortName()+fmt.Sprint(q.Limit), func(t *testing.T) {
			got := walk(t, s, q)
			// What the filters keep, sorted the slow obvious way.
			var want []Entry
			for _, e := range s.Entries {
				if strings.HasPrefix(e.Box.Place, q.Place) && (q.Online == nil || e.Online == *q.Online) &&
					(!q.Problems || len(e.Problems) > 0) &&
					(q.Search == "" || strings.Contains(strings.ToLower(e.Box.ID+"\x00"+e.Box.Name), strings.ToLower(q.Search))) {
					want = append(want, e)
				}
			}
			slices.SortStableFunc(want, func(a, b Entry) int {
				var less bool
				switch q.Sort {
				case SortName:
					less = a.Box.Name < b.Box.Name || a.Box.Name == b.Box.Name && a.Box.ID < b.Box.ID
				case SortLastSeen:
					less = a.LastSeen.Before(b.LastSeen) || a.LastSeen.Equal(b.LastSeen) && a.Box.ID < b.Box.ID
				case SortProblems:
					less = len(a.Problems) < len(b.Problems) || len(a.Problems) == len(b.Problems) && a.Box.ID < b.Box.ID
				default:
					less = a.Box.ID < b.Box.ID
				}
				if q.Desc {
					less = !less
				}
				if less {
					return -1
				}
				return 1
			})
			if !slices.Equal(got, ids(want)) {
				t.Errorf("pages gave %d ids %v…, want %d %v…", len(got), head(got), len(want), head(ids(want)))
			}
			if len(want) == 0 {
				t.Error("the case keeps no box; it tests nothing")
			}
		})
	}
}

func head(s []string) []string { return s[:min(len(s), 5)] }

func TestCursorSurvivesChangesBetweenPages(t *testing.T) {
	s := fleet(100)
	q := Query{Sort: SortID, Limit: 10}
	p, err := s.Page(q)
	if err != nil {
		t.Fatal(err)
	}
	// A box before the cursor leaves, one after it comes: the next page
	// neither repeats nor skips.
	later := &Snapshot{Entries: slices.Concat(s.Entries[1:15], []Entry{{Box: store.Box{ID: "village-0014a"}}}, s.Entries[15:])}
	q.Cursor = p.Next
	p2, err := later.Page(q)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"village-0010", "village-0011", "village-0012", "village-0013", "village-0014", "village-0014a",
		"village-0015", "village-0016", "village-0017", "village-0018"}
	if !slices.Equal(ids(p2.Entries), want) || p2.Total != 100 {
		t.Errorf("next page %v total %d, want %v total 100", ids(p2.Entries), p2.Total, want)
	}
}

func TestOffsetPages(t *testing.T) {
	s := fleet(30)
	p, err := s.Page(Query{Sort: SortID, Limit: 10, Offset: 25})
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(p.Entries); !slices.Equal(got, []string{"village-0025", "village-0026", "village-0027", "village-0028", "village-0029"}) || p.Next != "" || p.Offset != 25 {
		t.Errorf("offset 25: %v next %q offset %d", got, p.Next, p.Offset)
	}
	if p, err := s.Page(Query{Sort: SortID, Limit: 10, Offset: 99}); err != nil || len(p.Entries) != 0 || p.Total != 30 {
		t.Errorf("offset past the end: %d entries, total %d, %v; want none of 30", len(p.Entries), p.Total, err)
	}
}

func TestRetiredBoxesOnlyWhenAsked(t *testing.T) {
	s := fleet(4)
	s.Entries[1].Box.RetiredAt = t0
	s.Entries[1].Problems = ProblemsOf(s.Entries[1])
	if p, _ := s.Page(Query{Sort: SortID, Limit: 10}); slices.Contains(ids(p.Entries), "village-0001") {
		t.Error("a retired box listed without all")
	}
	if p, _ := s.Page(Query{Sort: SortID, Limit: 10, Retired: true}); !slices.Contains(ids(p.Entries), "village-0001") {
		t.Error("a retired box missing with all")
	}
	if len(s.Entries[1].Problems) != 0 {
		t.Errorf("a retired box has problems %v", s.Entries[1].Problems)
	}
}

func TestParseQuery(t *testing.T) {
	q, err := ParseQuery(url.Values{"place": {" 东山镇 "}, "online": {"false"}, "problems": {"true"}, "q": {"三"}, "sort": {"-last_seen"}, "limit": {"20"}})
	if err != nil {
		t.Fatal(err)
	}
	if q.Place != "东山镇" || q.Online == nil || *q.Online || !q.Problems || q.Search != "三" || q.Sort != SortLastSeen || !q.Desc || q.Limit != 20 {
		t.Errorf("ParseQuery = %+v", q)
	}
	if v := q.Values(); v.Encode() != "limit=20&online=false&place=%E4%B8%9C%E5%B1%B1%E9%95%87&problems=true&q=%E4%B8%89&sort=-last_seen" {
		t.Errorf("Values = %s", v.Encode())
	}
	if q, err := ParseQuery(url.Values{}); err != nil || q.Limit != DefaultLimit || q.Sort != SortID || q.Desc || q.Online != nil {
		t.Errorf("ParseQuery of nothing = %+v, %v; want the defaults", q, err)
	}
	for name, v := range map[string]url.Values{
		"limit 0":           {"limit": {"0"}},
		"limit over max":    {"limit": {fmt.Sprint(MaxLimit + 1)}},
		"limit not number":  {"limit": {"ten"}},
		"unknown sort":      {"sort": {"colour"}},
		"online maybe":      {"online": {"maybe"}},
		"negative offset":   {"offset": {"-1"}},
		"cursor and offset": {"cursor": {"abc"}, "offset": {"10"}},
		"long search":       {"q": {strings.Repeat("长", MaxSearch)}},
	} {
		if _, err := ParseQuery(v); !errors.Is(err, ErrBadQuery) {
			t.Errorf("%s: %v, want ErrBadQuery", name, err)
		}
	}
}

func TestForeignCursorRefused(t *testing.T) {
	s := fleet(20)
	p, _ := s.Page(Query{Sort: SortName, Limit: 5})
	for name, c := range map[string]string{"another sort's": p.Next, "garbage": "!!", "not JSON": "bm90IGpzb24"} {
		if _, err := s.Page(Query{Sort: SortID, Limit: 5, Cursor: c}); !errors.Is(err, ErrBadQuery) {
			t.Errorf("%s cursor: %v, want ErrBadQuery", name, err)
		}
	}
}

func FuzzQuery(f *testing.F) {
	s := fleet(50)
	p, _ := s.Page(Query{Sort: SortLastSeen, Limit: 5})
	f.Add("-last_seen", "5", p.Next, "东山", "true")
	f.Add("problems", "500", "", "", "")
	f.Fuzz(func(t *testing.T, sort, limit, cursor, place, online string) {
		q, err := ParseQuery(url.Values{"sort": {sort}, "limit": {limit}, "cursor": {cursor}, "place": {place}, "online": {online}})
		if err != nil {
			if !errors.Is(err, ErrBadQuery) {
				t.Fatalf("ParseQuery error %v is not ErrBadQuery", err)
			}
			return
		}
		p, err := s.Page(q)
		if err != nil {
			if !errors.Is(err, ErrBadQuery) {
				t.Fatalf("Page error %v is not ErrBadQuery", err)
			}
			return
		}
		if len(p.Entries) > q.Limit || p.Total > len(s.Entries) {
			t.Fatalf("page of %d (limit %d), total %d of %d", len(p.Entries), q.Limit, p.Total, len(s.Entries))
		}
	})
}

// TestBoardReadsTheStoreOncePerAge: readers within MaxAge share one
// snapshot; after it, or after Invalidate, the fleet is read again and
// shows what changed; a box's state comes from its plan and events.
func TestBoardReadsTheStoreOncePerAge(t *testing.T) {
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "cloud.db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := t.Context()
	for _, id := range []string{"village-1", "village-2"} {
		if err := st.CreateBox(ctx, store.Box{ID: id, Name: id, Place: "东山镇", Incarnation: 1}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.UpdatePlan(ctx, "village-1", func(p *store.Plan) error {
		p.Broadcast.Speakers = []protocol.Speaker{{ID: "sp1", Name: "村口"}}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.AppendEvents(ctx, "village-1", store.Batch{Events: []store.Event{
		{Seq: 1, Time: t0, Type: protocol.EventHealth, Data: []byte(`{"clock_trusted":false,"disk_free_bytes":1,"disk_total_bytes":100}`), ReceivedAt: t0},
		{Seq: 2, Time: t0, Type: protocol.EventSpeakerHealth, Data: []byte(`{"id":"sp1","reachable":false,"error":"no answer"}`), ReceivedAt: t0},
	}}); err != nil {
		t.Fatal(err)
	}
	now := t0
	b, err := New(Deps{Source: st, MaxAge: time.Second, Now: func() time.Time { return now },
		Link: func(b store.Box) Link { return Link{Online: b.ID == "village-2", LastSeen: t0} }})
	if err != nil {
		t.Fatal(err)
	}
	s1, err := b.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	e := s1.Entries[0]
	want := []string{ProblemOffline, ProblemClock, ProblemDisk, ProblemSpeakers}
	if !slices.Equal(e.Problems, want) || e.State.Speakers[0].Error != "no answer" {
		t.Errorf("village-1: problems %v, speakers %+v; want %v and the speaker's error", e.Problems, e.State.Speakers, want)
	}
	if p := s1.Entries[1].Problems; len(p) != 0 || !s1.Entries[1].Online {
		t.Errorf("village-2: problems %v, online %v; want none, online", p, s1.Entries[1].Online)
	}
	if err := st.CreateBox(ctx, store.Box{ID: "village-3", Name: "三村", Incarnation: 1}); err != nil {
		t.Fatal(err)
	}
	now = now.Add(999 * time.Millisecond)
	if s2, _ := b.Snapshot(ctx); s2 != s1 {
		t.Error("a reader within MaxAge got a new snapshot")
	}
	now = now.Add(time.Millisecond)
	s3, err := b.Snapshot(ctx)
	if err != nil || s3 == s1 || len(s3.Entries) != 3 || s3.Seq <= s1.Seq {
		t.Fatalf("after MaxAge: %d entries, seq %d, %v; want the new box in a new snapshot", len(s3.Entries), s3.Seq, err)
	}
	b.Invalidate()
	if s4, _ := b.Snapshot(ctx); s4 == s3 {
		t.Error("Invalidate kept the snapshot")
	}
	n := 0
	for range 3 {
		if _, err := s3.Memo("k", func() (any, error) { n++; return n, nil }); err != nil {
			t.Fatal(err)
		}
	}
	if n != 1 {
		t.Errorf("Memo made its value %d times, want once", n)
	}
}

// countingSource counts the reads of the fleet.
type countingSource struct {
	Source
	mu    sync.Mutex
	reads int
}

func (c *countingSource) ListOverviews(ctx context.Context, window int, types []string) ([]store.Overview, error) {
	c.mu.Lock()
	c.reads++
	c.mu.Unlock()
	return c.Source.ListOverviews(ctx, window, types)
}

func (c *countingSource) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reads
}

// TestRunKeepsTheSnapshotFresh: while Run runs, readers after the first
// never read the fleet themselves; Run reads every MaxAge while someone
// reads the board, and stops after Idle without readers.
func TestRunKeepsTheSnapshotFresh(t *testing.T) {
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "cloud.db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.CreateBox(t.Context(), store.Box{ID: "village-1", Name: "一村", Incarnation: 1}); err != nil {
		t.Fatal(err)
	}
	synctest.Test(t, func(t *testing.T) {
		src := &countingSource{Source: st}
		b, err := New(Deps{Source: src, MaxAge: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() { done <- b.Run(ctx) }()
		first, err := b.Snapshot(ctx)
		if err != nil || src.count() != 1 {
			t.Fatalf("first read: %v, %d reads", err, src.count())
		}
		time.Sleep(1500 * time.Millisecond) // Run read once meanwhile
		synctest.Wait()
		s, err := b.Snapshot(ctx)
		if err != nil || s == first || src.count() != 2 {
			t.Errorf("after MaxAge: new snapshot %t, %d reads, %v; want Run's, 2 reads", s != first, src.count(), err)
		}
		time.Sleep(Idle + 5*time.Second)
		synctest.Wait()
		idle := src.count()
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if src.count() != idle {
			t.Errorf("Run read the fleet %d times with nobody reading", src.count()-idle)
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

// timedSource records when the fleet is read, and fails while failing is
// set.
type timedSource struct {
	Source
	mu      sync.Mutex
	reads   []time.Time
	failing bool
}

// runaway is more reads than any test makes: a board reading in a loop
// is held at the next read, so the test fails on the count instead of
// spinning in its bubble, where time does not pass.
const runaway = 1000

func (s *timedSource) ListOverviews(ctx context.Context, window int, types []string) ([]store.Overview, error) {
	s.mu.Lock()
	s.reads = append(s.reads, time.Now())
	failing, n := s.failing, len(s.reads)
	s.mu.Unlock()
	if n > runaway {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	if failing {
		return nil, errors.New("the store is down")
	}
	return s.Source.ListOverviews(ctx, window, types)
}

func (s *timedSource) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.reads)
}

func (s *timedSource) fail(on bool) {
	s.mu.Lock()
	s.failing = on
	s.mu.Unlock()
}

// since returns the reads from from on.
func (s *timedSource) since(from time.Time) []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []time.Time
	for _, r := range s.reads {
		if !r.Before(from) {
			out = append(out, r)
		}
	}
	return out
}

// oneBox is a store holding village-1.
func oneBox(t *testing.T) *boltstore.Store {
	t.Helper()
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "cloud.db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.CreateBox(t.Context(), store.Box{ID: "village-1", Name: "一村", Incarnation: 1}); err != nil {
		t.Fatal(err)
	}
	return st
}

// running starts b.Run in the bubble and stops it when the test ends.
func running(t *testing.T, b *Board) {
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() { done <- b.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

// TestChangedReadsSoon: with Run running, a change told to the board is
// read MinGap after the last read, or at once when that is past, well
// before MaxAge; without changes Run reads every MaxAge.
func TestChangedReadsSoon(t *testing.T) {
	st := oneBox(t)
	synctest.Test(t, func(t *testing.T) {
		src := &timedSource{Source: st}
		b, err := New(Deps{Source: src}) // MaxAge 3 s, MinGap 1 s
		if err != nil {
			t.Fatal(err)
		}
		running(t, b)
		start := time.Now()
		at := func(d time.Duration) {
			time.Sleep(time.Until(start.Add(d)))
			synctest.Wait()
		}
		if _, err := b.Snapshot(t.Context()); err != nil || src.count() != 1 {
			t.Fatalf("first read: %v, %d reads", err, src.count())
		}

		// Another replica adds a box and says so 100 ms after the read.
		at(100 * time.Millisecond)
		if err := st.CreateBox(t.Context(), store.Box{ID: "village-2", Incarnation: 1}); err != nil {
			t.Fatal(err)
		}
		b.Changed()
		at(999 * time.Millisecond)
		if s, _ := b.Snapshot(t.Context()); len(s.Entries) != 1 || src.count() != 1 {
			t.Fatalf("within MinGap of the read: %d entries, %d reads; want the old snapshot", len(s.Entries), src.count())
		}
		at(time.Second)
		if s, _ := b.Snapshot(t.Context()); len(s.Entries) != 2 || src.count() != 2 {
			t.Fatalf("MinGap after the read: %d entries, %d reads; want the new box read once more", len(s.Entries), src.count())
		}

		// A change told more than MinGap after the last read is read at
		// once.
		at(2500 * time.Millisecond)
		b.Changed()
		synctest.Wait()
		if src.count() != 3 {
			t.Fatalf("a change 1.5 s after the read: %d reads, want it read at once", src.count())
		}

		// Without changes, MaxAge after the last read.
		at(5499 * time.Millisecond)
		if src.count() != 3 {
			t.Fatalf("before MaxAge: %d reads, want 3", src.count())
		}
		at(5500 * time.Millisecond)
		if src.count() != 4 {
			t.Fatalf("at MaxAge: %d reads, want 4", src.count())
		}
	})
}

// TestChangedFloodReadsOncePerGap: a stream of changes (a busy fleet)
// makes Run read once per MinGap, not once per change, also while the
// store fails.
func TestChangedFloodReadsOncePerGap(t *testing.T) {
	st := oneBox(t)
	synctest.Test(t, func(t *testing.T) {
		src := &timedSource{Source: st}
		b, err := New(Deps{Source: src, MaxAge: 3 * time.Second, MinGap: 500 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		running(t, b)
		ctx, stop := context.WithCancel(t.Context())
		var wg sync.WaitGroup
		// Changes every 10 ms; a reader every 100 ms.
		for _, c := range []struct {
			every time.Duration
			do    func()
		}{
			{10 * time.Millisecond, b.Changed},
			{100 * time.Millisecond, func() { _, _ = b.Snapshot(ctx) }},
		} {
			wg.Go(func() {
				for ctx.Err() == nil {
					c.do()
					time.Sleep(c.every)
				}
			})
		}
		start := time.Now()
		time.Sleep(10 * time.Second)
		src.fail(true)
		failFrom := time.Now()
		time.Sleep(5 * time.Second)
		stop()
		wg.Wait()

		reads := src.since(start)
		for i := 1; i < len(reads); i++ {
			if gap := reads[i].Sub(reads[i-1]); gap < 500*time.Millisecond {
				t.Fatalf("reads %d and %d %s apart, under MinGap", i-1, i, gap)
			}
		}
		// 1000 changes in 10 s working: one read per gap, about 20.
		if n := len(reads) - len(src.since(failFrom)); n < 19 || n > 21 {
			t.Errorf("%d reads in 10 s of changes, want one per 500 ms", n)
		}
		// 500 changes in 5 s failing: retried once per gap too.
		if n := len(src.since(failFrom)); n < 9 || n > 11 {
			t.Errorf("%d reads in 5 s of changes while the store fails, want one per 500 ms", n)
		}
	})
}

// TestChangedWithNobodyWatching: changes cost no read while nobody reads
// the board, before the first reader or Idle after the last.
func TestChangedWithNobodyWatching(t *testing.T) {
	st := oneBox(t)
	synctest.Test(t, func(t *testing.T) {
		src := &timedSource{Source: st}
		b, err := New(Deps{Source: src, MaxAge: time.Second, MinGap: 100 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		running(t, b)
		flood := func(d time.Duration) {
			for range d / (10 * time.Millisecond) {
				b.Changed()
				time.Sleep(10 * time.Millisecond)
			}
			synctest.Wait()
		}
		flood(5 * time.Second)
		if n := src.count(); n != 0 {
			t.Fatalf("%d reads before anyone read the board, want none", n)
		}
		if _, err := b.Snapshot(t.Context()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(Idle)
		synctest.Wait()
		idle := src.count()
		flood(10 * time.Second)
		if n := src.count() - idle; n != 0 {
			t.Errorf("%d reads for changes after Idle without readers, want none", n)
		}
	})
}

// TestChangedWithoutRun: a board nobody runs reads a change on the next
// Snapshot MinGap after its last read, not MaxAge.
func TestChangedWithoutRun(t *testing.T) {
	st := oneBox(t)
	synctest.Test(t, func(t *testing.T) {
		src := &timedSource{Source: st}
		b, err := New(Deps{Source: src}) // MaxAge 3 s, MinGap 1 s
		if err != nil {
			t.Fatal(err)
		}
		first, err := b.Snapshot(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		b.Changed()
		time.Sleep(999 * time.Millisecond)
		if s, _ := b.Snapshot(t.Context()); s != first {
			t.Error("a change read within MinGap of the last read")
		}
		time.Sleep(time.Millisecond)
		s, _ := b.Snapshot(t.Context())
		if s == first || src.count() != 2 {
			t.Fatalf("MinGap after a change: new snapshot %t, %d reads; want a new read", s != first, src.count())
		}
		time.Sleep(2 * time.Second)
		if again, _ := b.Snapshot(t.Context()); again != s {
			t.Error("read again within MaxAge with no change since")
		}
	})
}

func TestNewChecksMinGap(t *testing.T) {
	if _, err := New(Deps{Source: &timedSource{}, MinGap: -time.Second}); err == nil {
		t.Error("a negative MinGap taken")
	}
	b, err := New(Deps{Source: &timedSource{}, MaxAge: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if b.d.MinGap != 200*time.Millisecond {
		t.Errorf("MinGap %s; want the default cut to MaxAge, 200ms", b.d.MinGap)
	}
}
