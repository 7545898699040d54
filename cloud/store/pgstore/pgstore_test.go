package pgstore

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/dalaba/dalaba/cloud/store"
	"github.com/dalaba/dalaba/cloud/store/pgstore/pgtest"
	"github.com/dalaba/dalaba/cloud/store/storetest"
)

func TestConformance(t *testing.T) {
	db := pgtest.New(t)
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := Open(t.Context(), db.Fresh(t))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func open(t testing.TB, dsn string) *Store {
	t.Helper()
	s, err := Open(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func query(t testing.TB, dsn, sql string, args ...any) int {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(t.Context())
	var n int
	if err := conn.QueryRow(t.Context(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

func exec(t testing.TB, dsn, sql string) {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(t.Context())
	if _, err := conn.Exec(t.Context(), sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// Open records each migration once, in order; opening again applies
// nothing and keeps what was stored.
func TestMigrationsRecordedOnce(t *testing.T) {
	dsn := pgtest.New(t).Fresh(t)
	s := open(t, dsn)
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	if got := query(t, dsn, `SELECT count(*) FROM schema_migrations`); got != len(ms) || got != SchemaVersion() {
		t.Fatalf("schema_migrations holds %d rows, want %d", got, len(ms))
	}
	if err := s.CreateUser(t.Context(), store.User{Name: "admin", Role: store.RoleAdmin}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	again := open(t, dsn)
	if got := query(t, dsn, `SELECT count(*) FROM schema_migrations`); got != len(ms) {
		t.Fatalf("after a reopen schema_migrations holds %d rows, want %d", got, len(ms))
	}
	if _, err := again.GetUser(t.Context(), "admin"); err != nil {
		t.Fatalf("the user did not survive a reopen: %v", err)
	}
}

// A database a newer dalaba-cloud migrated is refused, not misread.
func TestRefusesNewerSchema(t *testing.T) {
	dsn := pgtest.New(t).Fresh(t)
	open(t, dsn).Close()
	exec(t, dsn, fmt.Sprintf(`INSERT INTO schema_migrations (version, name) VALUES (%d, '9999_future.sql')`, SchemaVersion()+1))
	_, err := Open(t.Context(), dsn)
	if !errors.Is(err, ErrSchema) || !strings.Contains(err.Error(), "reads up to") {
		t.Fatalf("Open of a newer schema: %v, want ErrSchema", err)
	}
}

// A database holding other tables is not taken for an empty one.
func TestRefusesForeignDatabase(t *testing.T) {
	dsn := pgtest.New(t).Fresh(t)
	exec(t, dsn, `CREATE TABLE invoices (id int)`)
	if _, err := Open(t.Context(), dsn); !errors.Is(err, ErrSchema) {
		t.Fatalf("Open of a database with other tables: %v, want ErrSchema", err)
	}
}

// Replicas starting together migrate once.
func TestConcurrentOpen(t *testing.T) {
	dsn := pgtest.New(t).Fresh(t)
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			s, err := Open(t.Context(), dsn)
			if err == nil {
				s.Close()
			}
			errs <- err
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatalf("Open: %v", err)
		}
	}
	if got := query(t, dsn, `SELECT count(*) FROM schema_migrations`); got != SchemaVersion() {
		t.Fatalf("schema_migrations holds %d rows, want %d", got, SchemaVersion())
	}
}

// Two replicas appending to one box, updating it and numbering audit
// records at once lose nothing and number without gaps: the box's row
// lock and the write lock serialise them as one bbolt file would.
func TestTwoReplicas(t *testing.T) {
	dsn := pgtest.New(t).Fresh(t)
	a, b := open(t, dsn), open(t, dsn)
	ctx := t.Context()
	if err := a.CreateBox(ctx, store.Box{ID: "village-1"}); err != nil {
		t.Fatal(err)
	}
	const n = 50
	errs := make(chan error, 2*n)
	for i := range n {
		for j, s := range []*Store{a, b} {
			go func() {
				seq := uint64(2*i + j + 1)
				_, err := s.AppendEvents(ctx, "village-1", store.Batch{Floor: 1, Events: []store.Event{{Seq: seq, Type: "t"}}})
				if err == nil {
					_, err = s.AppendAudit(ctx, store.AuditRecord{Actor: "x", Action: "y"})
				}
				if err == nil {
					err = s.UpdateBox(ctx, "village-1", func(b *store.Box) error { b.AppliedRev++; return nil })
				}
				errs <- err
			}()
		}
	}
	for range 2 * n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	box, err := b.GetBox(ctx, "village-1")
	if err != nil || box.Watermark != 2*n || box.AppliedRev != 2*n {
		t.Fatalf("watermark %d, applied rev %d, %v; want %d for both", box.Watermark, box.AppliedRev, err, 2*n)
	}
	if c, err := a.CountEvents(ctx, "village-1"); err != nil || c != 2*n {
		t.Fatalf("CountEvents = %d, %v; want %d", c, err, 2*n)
	}
	recs, err := a.ListAudit(ctx, store.AuditFilter{Limit: 10 * n})
	if err != nil || len(recs) != 2*n || recs[len(recs)-1].Seq != 2*n {
		t.Fatalf("audit: %d records, %v; want seqs 1-%d", len(recs), err, 2*n)
	}
}
