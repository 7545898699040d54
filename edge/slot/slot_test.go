package slot_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/dalaba/dalaba/edge/slot"
)

var t0 = time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)

func binary(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "bin")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func seeded(t *testing.T) slot.Dir {
	t.Helper()
	d := slot.Dir{Path: filepath.Join(t.TempDir(), "slots")}
	if err := d.Seed(binary(t, "v1"), "1.0"); err != nil {
		t.Fatal(err)
	}
	return d
}

func current(t *testing.T, d slot.Dir) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(d.Path, slot.Current, slot.Binary))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func boot(t *testing.T, d slot.Dir) slot.State {
	t.Helper()
	s, err := d.Boot(3, "crash_loop", "watchdog", t0)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestNoStateIsNoSlots(t *testing.T) {
	if _, err := (slot.Dir{Path: t.TempDir()}).Load(); !errors.Is(err, slot.ErrNoSlots) {
		t.Fatalf("Load = %v, want ErrNoSlots", err)
	}
}

func TestSeedBootsSlotA(t *testing.T) {
	d := seeded(t)
	s := boot(t, d)
	if s.Active != slot.A || s.Trial || s.Version() != "1.0" || current(t, d) != "v1" {
		t.Fatalf("after seeding: %+v, current %q", s, current(t, d))
	}
	if err := d.Seed(binary(t, "other"), "9"); err != nil || current(t, d) != "v1" {
		t.Fatalf("a second Seed replaced the slots: %v", err)
	}
}

func TestStagedUpdateBootsOnTrialAndCommits(t *testing.T) {
	d := seeded(t)
	boot(t, d)
	s, err := d.Stage(binary(t, "v2"), "2.0", "r1")
	if err != nil {
		t.Fatal(err)
	}
	if s.Active != slot.B || !s.Trial || s.Good != slot.A || s.Rollout != "r1" {
		t.Fatalf("staged: %+v", s)
	}
	if _, err := d.Stage(binary(t, "v3"), "3.0", ""); !errors.Is(err, slot.ErrTrial) {
		t.Fatalf("a second stage on trial: %v, want ErrTrial", err)
	}
	s = boot(t, d)
	if s.Attempts != 1 || current(t, d) != "v2" {
		t.Fatalf("first trial boot: %+v, current %q", s, current(t, d))
	}
	s, err = d.Commit()
	if err != nil {
		t.Fatal(err)
	}
	if s.Good != slot.B || s.Trial || s.Attempts != 0 {
		t.Fatalf("committed: %+v", s)
	}
	// Committed, the slot survives any number of boots.
	for range 5 {
		s = boot(t, d)
	}
	if s.Active != slot.B || current(t, d) != "v2" {
		t.Fatalf("after boots: %+v", s)
	}
}

func TestCrashLoopGoesBackToTheGoodSlot(t *testing.T) {
	d := seeded(t)
	boot(t, d)
	if _, err := d.Stage(binary(t, "v2"), "2.0", ""); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		if s := boot(t, d); s.Active != slot.B || s.Attempts != i {
			t.Fatalf("boot %d: %+v", i, s)
		}
		if err := d.Exited("exit-code"); err != nil {
			t.Fatal(err)
		}
	}
	s := boot(t, d)
	if s.Active != slot.A || s.Trial || current(t, d) != "v1" {
		t.Fatalf("after a crash loop: %+v, current %q", s, current(t, d))
	}
	if rb := s.Rollback; rb == nil || rb.From != "2.0" || rb.To != "1.0" || rb.Reason != "crash_loop" || rb.Reported {
		t.Fatalf("rollback %+v", s.Rollback)
	}
	if err := d.Reported(); err != nil {
		t.Fatal(err)
	}
	if s, _ := d.Load(); !s.Rollback.Reported {
		t.Fatal("Reported did not mark the roll-back")
	}
	// The next update goes into b again, the idle slot.
	if s, err := d.Stage(binary(t, "v3"), "3.0", ""); err != nil || s.Active != slot.B {
		t.Fatalf("stage after roll-back: %+v, %v", s, err)
	}
}

func TestWatchdogKillsAreNamed(t *testing.T) {
	d := seeded(t)
	boot(t, d)
	if _, err := d.Stage(binary(t, "v2"), "2.0", ""); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		boot(t, d)
		if err := d.Exited(slot.ResultWatchdog); err != nil {
			t.Fatal(err)
		}
	}
	if s := boot(t, d); s.Rollback == nil || s.Rollback.Reason != "watchdog" {
		t.Fatalf("rollback %+v", s.Rollback)
	}
}

func TestAbandonByTheDaemon(t *testing.T) {
	d := seeded(t)
	boot(t, d)
	if _, err := d.Stage(binary(t, "v2"), "2.0", ""); err != nil {
		t.Fatal(err)
	}
	boot(t, d)
	s, err := d.Abandon("no_connection", t0)
	if err != nil {
		t.Fatal(err)
	}
	if s.Active != slot.A || s.Rollback.Reason != "no_connection" {
		t.Fatalf("abandoned: %+v", s)
	}
	if boot(t, d); current(t, d) != "v1" {
		t.Fatal("the good slot does not run after abandoning")
	}
}

func TestATornStateFileIsRefusedNotGuessed(t *testing.T) {
	d := seeded(t)
	if err := os.WriteFile(filepath.Join(d.Path, slot.StateFile), []byte(`{"active":"b","good":"a"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Load(); err == nil {
		t.Fatal("a state off trial with active != good was accepted")
	}
}

// A Debian package upgrade (another /usr/bin/dalaba-edge) is taken into a
// slot on trial like an update; an over-the-air update does not touch the
// package, so it is not undone by the next boot.
func TestAPackageUpgradeIsTakenOnTrial(t *testing.T) {
	d := seeded(t)
	boot(t, d)
	if _, err := d.Stage(binary(t, "v2"), "2.0", ""); err != nil {
		t.Fatal(err)
	}
	boot(t, d)
	if _, err := d.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := d.Seed(binary(t, "v1"), "1.0"); err != nil { // the package is still 1.0
		t.Fatal(err)
	}
	if s := boot(t, d); s.Version() != "2.0" || s.Trial {
		t.Fatalf("the unchanged package undid an update: %+v", s)
	}
	if err := d.Seed(binary(t, "v3"), "3.0"); err != nil { // apt installed 3.0
		t.Fatal(err)
	}
	s := boot(t, d)
	if s.Version() != "3.0" || !s.Trial || s.Good != slot.B || current(t, d) != "v3" {
		t.Fatalf("after a package upgrade: %+v, current %q", s, current(t, d))
	}
}
