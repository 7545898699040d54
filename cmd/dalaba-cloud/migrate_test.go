package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dalaba/dalaba/cloud/store/boltstore"
	"github.com/dalaba/dalaba/cloud/store/pgstore/pgtest"
	"github.com/dalaba/dalaba/cloud/store/storetest"
)

// A populated bbolt store migrates into an empty PostgreSQL database and
// the printed check says every kind matches; a second run into the now
// non-empty database is refused and changes nothing.
func TestMigrateBoltToPostgres(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cloud.db")
	st, err := boltstore.Open(path, boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	storetest.Populate(t, st)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	dsn := pgtest.New(t).Fresh(t)

	code, out, errOut := cli(t, "", "migrate", "--from", "bolt:"+path, "--to", "postgres:"+dsn)
	if code != 0 {
		t.Fatalf("migrate: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	t.Logf("migrate printed:\n%s", out)
	for _, want := range []string{"events", "audit", "alerts", "the copy matches"} {
		if !strings.Contains(out, want) {
			t.Errorf("the check does not mention %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "DIFFERS") {
		t.Errorf("the check found a difference:\n%s", out)
	}

	code, out2, errOut := cli(t, "", "migrate", "--from", "bolt:"+path, "--to", "postgres:"+dsn)
	if code != 1 || !strings.Contains(errOut, "not empty") {
		t.Fatalf("second migrate: exit %d, stderr %q; want 1 and a refusal of the non-empty target", code, errOut)
	}
	if strings.Contains(out2, "copied") {
		t.Errorf("the refused run says it copied:\n%s", out2)
	}
}

// A mistyped source path is refused, not made into an empty store.
func TestMigrateMissingSource(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cloud.db")
	code, _, errOut := cli(t, "", "migrate", "--from", "bolt:"+path, "--to", "postgres:host=127.0.0.1 dbname=nowhere")
	if code != 1 || !strings.Contains(errOut, "no such file") {
		t.Fatalf("exit %d, stderr %q; want 1 naming the missing file", code, errOut)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("the missing store was created: %v", err)
	}
}

// A refused target's password is not printed.
func TestMigrateHidesPassword(t *testing.T) {
	for _, to := range []string{"mysql://dalaba:s3cret@db/x", "postgres"} {
		code, _, errOut := cli(t, "", "migrate", "--from", "bolt:x.db", "--to", to)
		if code != 1 || strings.Contains(errOut, "s3cret") {
			t.Errorf("--to %s: exit %d, stderr %q; want 1 without the password", to, code, errOut)
		}
	}
}
