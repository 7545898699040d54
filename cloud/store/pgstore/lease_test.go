package pgstore

import (
	"fmt"
	"testing"

	"github.com/dalaba/dalaba/cloud/store/pgstore/pgtest"
)

// A lease is held by one replica at a time; the holder's session ending
// (its process killed) frees it for another, and the holder learns it
// has lost it.
func TestALeaseIsHeldByOneSessionAtATime(t *testing.T) {
	dsn := pgtest.New(t).Fresh(t)
	a, b := open(t, dsn), open(t, dsn)

	la, err := a.TryLease(t.Context(), "periodic-jobs")
	if err != nil || la == nil {
		t.Fatalf("a: lease %v, %v; want it taken", la, err)
	}
	if lb, err := b.TryLease(t.Context(), "periodic-jobs"); err != nil || lb != nil {
		t.Fatalf("b: lease %v, %v; want none while a holds it", lb, err)
	}
	if other, err := b.TryLease(t.Context(), "another"); err != nil || other == nil {
		t.Fatalf("b: another lease %v, %v; want it taken", other, err)
	} else {
		other.Release(t.Context())
	}
	if err := la.Alive(t.Context()); err != nil {
		t.Fatalf("a's lease: %v", err)
	}

	// a's session ends as when its process is killed.
	exec(t, dsn, fmt.Sprintf(`SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory'
		AND classid = %d AND objid = %d::bigint::oid AND objsubid = 2`, leaseSpace, uint32(leaseKey("periodic-jobs"))))
	if err := la.Alive(t.Context()); err == nil {
		t.Fatal("a's lease is alive after its session ended")
	}
	la.Release(t.Context()) // on a dead connection: closes it, no panic
	lb, err := b.TryLease(t.Context(), "periodic-jobs")
	if err != nil || lb == nil {
		t.Fatalf("b: lease %v, %v; want it taken once a's session ended", lb, err)
	}

	// Released, it is free at once.
	lb.Release(t.Context())
	if la2, err := a.TryLease(t.Context(), "periodic-jobs"); err != nil || la2 == nil {
		t.Fatalf("a: lease %v, %v; want it taken after b released it", la2, err)
	} else {
		la2.Release(t.Context())
	}
}
