package pgstore

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/dalaba/dalaba/cloud/store"
	"github.com/dalaba/dalaba/cloud/store/pgstore/pgtest"
)

// patience bounds every wait for the server in these tests.
const patience = 10 * time.Second

// watcher runs s.WatchFleet until the test ends or stop is called; every
// call of its callback is a value on heard.
type watcher struct {
	heard chan struct{}
	logs  *logs
	stop  context.CancelFunc
	done  chan struct{} // closed when WatchFleet has returned err
	err   error
}

func watch(t *testing.T, s *Store) *watcher {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	w := &watcher{heard: make(chan struct{}, 1000), logs: newLogs(), stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		w.err = s.WatchFleet(ctx, slog.New(w.logs), func() { w.heard <- struct{}{} })
	}()
	t.Cleanup(func() {
		cancel()
		<-w.done
	})
	return w
}

// expect waits for the callback to be called for what.
func (w *watcher) expect(t *testing.T, what string) {
	t.Helper()
	select {
	case <-w.heard:
	case <-time.After(patience):
		t.Fatalf("%s: the watcher heard nothing in %s", what, patience)
	}
}

// stopped checks that WatchFleet returns nil soon after stop.
func (w *watcher) stopped(t *testing.T) {
	t.Helper()
	select {
	case <-w.done:
		if w.err != nil {
			t.Fatalf("WatchFleet returned %v at its context's end, want nil", w.err)
		}
	case <-time.After(patience):
		t.Fatal("WatchFleet did not return when its context ended")
	}
}

// drain forgets the calls so far.
func (w *watcher) drain() {
	for {
		select {
		case <-w.heard:
		default:
			return
		}
	}
}

// Changes made through one store (another replica) are heard by the
// watcher of another on the same database: a new box, its update,
// presence's bulk flush, event batches, desired state and plans.
func TestWatchFleetHearsAnotherReplica(t *testing.T) {
	dsn := pgtest.New(t).Fresh(t)
	a, b := open(t, dsn), open(t, dsn)
	ctx := t.Context()
	w := watch(t, a)
	w.expect(t, "listening") // once at the start: anything may have changed before

	t0 := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		what   string
		change func() error
	}{
		{"CreateBox", func() error { return b.CreateBox(ctx, store.Box{ID: "village-1", Name: "一村"}) }},
		{"UpdateBox", func() error {
			return b.UpdateBox(ctx, "village-1", func(x *store.Box) error { x.Name = "一村小学"; return nil })
		}},
		{"UpdateBoxes (presence)", func() error {
			_, err := b.UpdateBoxes(ctx, map[string]func(*store.Box) error{
				"village-1": func(x *store.Box) error { x.Online, x.LastSeen = true, t0; return nil },
			})
			return err
		}},
		{"AppendEvents", func() error {
			_, err := b.AppendEvents(ctx, "village-1", store.Batch{Floor: 1, Events: []store.Event{{Seq: 1, Type: "t", Time: t0}}})
			return err
		}},
		{"AppendMany", func() error {
			_, err := b.AppendMany(ctx, []store.BoxBatch{{BoxID: "village-1", Batch: store.Batch{Floor: 1, Events: []store.Event{{Seq: 2, Type: "t", Time: t0}}}}})
			return err
		}},
		{"PutDesired", func() error {
			return b.PutDesired(ctx, store.Desired{BoxID: "village-1", Rev: 1, Payload: []byte("{}")})
		}},
		{"UpdatePlan", func() error {
			return b.UpdatePlan(ctx, "village-1", func(p *store.Plan) error { p.UpdatedBy = "admin"; return nil })
		}},
	} {
		w.drain()
		if err := c.change(); err != nil {
			t.Fatalf("%s: %v", c.what, err)
		}
		w.expect(t, c.what)
	}

	// Its context ended, the watcher returns and leaves no listening
	// session behind.
	w.stop()
	w.stopped(t)
	waitFor(t, "the listening session to end", func() bool { return len(listeners(t, dsn)) == 0 })
}

// A listening session ended by the server (pg_terminate_backend, as a
// restart or an administrator would) is replaced: the watcher says the
// fleet may have changed, logs what happened, and hears later changes.
func TestWatchFleetSurvivesItsSessionEnding(t *testing.T) {
	dsn := pgtest.New(t).Fresh(t)
	a, b := open(t, dsn), open(t, dsn)
	ctx := t.Context()
	w := watch(t, a)
	w.expect(t, "listening")

	pids := listeners(t, dsn)
	if len(pids) != 1 {
		t.Fatalf("%d listening sessions, want 1", len(pids))
	}
	if ok := query(t, dsn, `SELECT pg_terminate_backend($1)::int`, pids[0]); ok != 1 {
		t.Fatalf("session %d not terminated", pids[0])
	}
	w.expect(t, "listening again") // what happened meanwhile went unheard
	w.logs.waitFor(t, "WARN listening for fleet changes")
	w.logs.waitFor(t, "INFO listening for fleet changes again")
	if now := listeners(t, dsn); len(now) != 1 || now[0] == pids[0] {
		t.Fatalf("listening sessions %v after %d ended, want one new", now, pids[0])
	}

	w.drain()
	if err := b.CreateBox(ctx, store.Box{ID: "village-1"}); err != nil {
		t.Fatal(err)
	}
	w.expect(t, "CreateBox after the session ended")
}

// While the server cannot be reached the watcher keeps trying, logging
// each failure, and still returns as soon as its context ends.
func TestWatchFleetReturnsWhileRetrying(t *testing.T) {
	s := open(t, pgtest.New(t).Fresh(t))
	s.Close() // every connection attempt now fails
	w := watch(t, s)
	w.logs.waitFor(t, "WARN listening for fleet changes")
	w.logs.waitFor(t, "WARN listening for fleet changes") // a second attempt
	w.stop()
	w.stopped(t)
	select {
	case <-w.heard:
		t.Error("the watcher said the fleet changed without ever listening")
	default:
	}
}

// One notification per transaction, whatever it wrote, and none for a
// transaction rolled back or a bulk write that found nothing to write.
func TestOneNotificationPerTransaction(t *testing.T) {
	dsn := pgtest.New(t).Fresh(t)
	s := open(t, dsn)
	ctx := t.Context()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, `LISTEN `+FleetChannel+`; LISTEN barrier`); err != nil {
		t.Fatal(err)
	}
	// count runs change, then notifies the barrier channel and counts the
	// fleet's notifications before it: notifications arrive in commit
	// order, so those are all the change made.
	count := func(what string, change func() error) int {
		t.Helper()
		if err := change(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		exec(t, dsn, `NOTIFY barrier`)
		wctx, cancel := context.WithTimeout(ctx, patience)
		defer cancel()
		n := 0
		for {
			msg, err := conn.WaitForNotification(wctx)
			if err != nil {
				t.Fatalf("%s: waiting for the barrier: %v", what, err)
			}
			if msg.Channel == "barrier" {
				return n
			}
			n++
		}
	}
	ids := []string{"village-1", "village-2", "village-3"}
	for _, id := range ids {
		if got := count("CreateBox", func() error { return s.CreateBox(ctx, store.Box{ID: id}) }); got != 1 {
			t.Errorf("CreateBox %s: %d notifications, want 1", id, got)
		}
	}
	online := func(b *store.Box) error { b.Online = true; return nil }
	for _, c := range []struct {
		what   string
		want   int
		change func() error
	}{
		{"UpdateBoxes of three boxes", 1, func() error {
			_, err := s.UpdateBoxes(ctx, map[string]func(*store.Box) error{"village-1": online, "village-2": online, "village-3": online})
			return err
		}},
		{"UpdateBoxes of unknown boxes only", 0, func() error {
			_, err := s.UpdateBoxes(ctx, map[string]func(*store.Box) error{"village-9": online})
			return err
		}},
		{"AppendMany of three batches, one refused", 1, func() error {
			var bs []store.BoxBatch
			for _, id := range append(slices.Clone(ids), "village-9") {
				bs = append(bs, store.BoxBatch{BoxID: id, Batch: store.Batch{Floor: 1, Events: []store.Event{{Seq: 1, Type: "t"}}}})
			}
			_, err := s.AppendMany(ctx, bs)
			return err
		}},
		{"AppendMany of a refused batch only", 0, func() error {
			res, err := s.AppendMany(ctx, []store.BoxBatch{{BoxID: "village-9", Batch: store.Batch{Floor: 1, Events: []store.Event{{Seq: 1, Type: "t"}}}}})
			if err == nil && res[0].Err == nil {
				t.Error("a batch of an unknown box was stored")
			}
			return err
		}},
		{"UpdateBox refused by its function", 0, func() error {
			if err := s.UpdateBox(ctx, "village-1", func(*store.Box) error { return errors.New("refused") }); err == nil {
				t.Error("UpdateBox took a refusal")
			}
			return nil
		}},
		{"PutDesiredBatch of three", 1, func() error {
			var ds []store.Desired
			for _, id := range ids {
				ds = append(ds, store.Desired{BoxID: id, Rev: 1, Payload: []byte("{}")})
			}
			_, err := s.PutDesiredBatch(ctx, ds)
			return err
		}},
		{"PutDesiredBatch all refused", 0, func() error {
			_, err := s.PutDesiredBatch(ctx, []store.Desired{{BoxID: "village-1", Rev: 1}})
			return err
		}},
		{"UpdatePlans of three", 1, func() error {
			_, err := s.UpdatePlans(ctx, ids, func(p *store.Plan) error { p.UpdatedBy = "admin"; return nil })
			return err
		}},
		{"UpdateBoxCredentials", 1, func() error {
			return s.UpdateBoxCredentials(ctx, "village-2", func(b *store.Box) error { b.SecretHash = []byte{1}; return nil })
		}},
		{"CreateUser (not the fleet)", 0, func() error {
			return s.CreateUser(ctx, store.User{Name: "admin", Role: store.RoleAdmin})
		}},
	} {
		if got := count(c.what, c.change); got != c.want {
			t.Errorf("%s: %d notifications, want %d", c.what, got, c.want)
		}
	}
	// A service alone on the database tells nobody.
	s.QuietFleet()
	if got := count("CreateBox by a quiet store", func() error { return s.CreateBox(ctx, store.Box{ID: "village-4"}) }); got != 0 {
		t.Errorf("a quiet store's CreateBox: %d notifications, want 0", got)
	}
}

// listeners returns the pids of the sessions listening on the database
// (their last statement a LISTEN).
func listeners(t *testing.T, dsn string) []int {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(t.Context(), `SELECT pid FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid() AND query ILIKE 'LISTEN%' ORDER BY pid`)
	if err != nil {
		t.Fatal(err)
	}
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		t.Fatal(err)
	}
	out := make([]int, len(pids))
	for i, p := range pids {
		out[i] = int(p)
	}
	return out
}

// waitFor polls the server until ok, for at most patience.
func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s", patience, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// logs is a slog.Handler keeping each record as "LEVEL message".
type logs struct {
	mu    sync.Mutex
	recs  []string
	taken int // records waitFor has matched
	added chan struct{}
}

func newLogs() *logs { return &logs{added: make(chan struct{}, 1)} }

func (l *logs) Enabled(context.Context, slog.Level) bool { return true }
func (l *logs) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logs) WithGroup(string) slog.Handler            { return l }

func (l *logs) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	l.recs = append(l.recs, r.Level.String()+" "+r.Message)
	l.mu.Unlock()
	select {
	case l.added <- struct{}{}:
	default:
	}
	return nil
}

// waitFor waits for a record, after those matched before, that is want.
func (l *logs) waitFor(t *testing.T, want string) {
	t.Helper()
	deadline := time.After(patience)
	for {
		l.mu.Lock()
		for i := l.taken; i < len(l.recs); i++ {
			if l.recs[i] == want {
				l.taken = i + 1
				l.mu.Unlock()
				return
			}
		}
		recs := strings.Join(l.recs, "; ")
		l.mu.Unlock()
		select {
		case <-l.added:
		case <-deadline:
			t.Fatalf("no log %q in %s; logged: %s", want, patience, recs)
		}
	}
}
