// Package pgtest gives tests throwaway PostgreSQL storage: a database with
// a random name on the server testenv.PostgresDSN names, dropped when the
// test that made it ends, and in it an empty schema per store a test
// opens (creating a database takes the server a second; a schema, a
// millisecond).
package pgtest

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/dalaba/dalaba/internal/testenv"
)

// DB is a throwaway database.
type DB struct {
	dsn *url.URL // the database's, without a search_path
}

// New creates an empty database, dropped (its connections ended first)
// when t ends. It skips, or fails under CI=true, when PostgreSQL is not
// there.
func New(t testing.TB) *DB {
	t.Helper()
	admin := testenv.PostgresDSN(t)
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("parse the PostgreSQL DSN: %v", err)
	}
	name := randomName("dalaba_test_")
	exec(t, admin, `CREATE DATABASE `+name)
	t.Cleanup(func() { exec(t, admin, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`) })
	u.Path = "/" + name
	return &DB{dsn: u}
}

// DSN is the database's DSN: its public schema.
func (db *DB) DSN() string { return db.dsn.String() }

// Fresh makes an empty schema and returns a DSN whose connections use it.
func (db *DB) Fresh(t testing.TB) string {
	t.Helper()
	schema := randomName("s_")
	exec(t, db.DSN(), `CREATE SCHEMA `+schema)
	u := *db.dsn
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// DSN is New(t).DSN(): a database of its own for one test.
func DSN(t testing.TB) string {
	t.Helper()
	return New(t).DSN()
}

// randomName is prefix and 16 random lowercase letters and digits: a name
// PostgreSQL takes unquoted.
func randomName(prefix string) string {
	return prefix + strings.ToLower(rand.Text()[:16])
}

func exec(t testing.TB, dsn, sql string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect to PostgreSQL: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Fatal(fmt.Errorf("%s: %w", sql, err))
	}
}
