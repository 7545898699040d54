package cloud

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/dalaba/dalaba/cloud/store/boltstore"
	"github.com/dalaba/dalaba/cloud/store/pgstore"
	"github.com/dalaba/dalaba/cloud/store/storecopy"
)

// Migrate copies the whole store from (bolt:<path>) into the empty
// PostgreSQL database to (postgres:<dsn>) with the service stopped
// (`dalaba-cloud migrate`), then compares each kind's count and hash in
// both and writes that check to w. Sessions are not copied: officials
// sign in again.
func Migrate(ctx context.Context, from, to string, w io.Writer) error {
	path, ok := strings.CutPrefix(from, "bolt:")
	if !ok || path == "" {
		return fmt.Errorf("cloud: migrate: --from %q: want bolt:<path of cloud.db>", from)
	}
	dsn, ok := strings.CutPrefix(to, "postgres:")
	if !ok || dsn == "" {
		return fmt.Errorf("cloud: migrate: --to %q: want postgres:<dsn>", redactDSN(to))
	}
	// Open would make an empty file of a mistyped path.
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("cloud: migrate: the bbolt store: %w", err)
	}
	src, err := boltstore.Open(path, boltstore.Options{})
	if errors.Is(err, boltstore.ErrInUse) {
		return fmt.Errorf("cloud: migrate: %w (%w): stop it first", ErrRunning, err)
	}
	if err != nil {
		return fmt.Errorf("cloud: migrate: %w", err)
	}
	defer src.Close()
	dst, err := pgstore.Open(ctx, dsn)
	if err != nil {
		return fmt.Errorf("cloud: migrate: %w", err)
	}
	defer dst.Close()
	fmt.Fprintf(w, "copying %s into %s\n", path, redactDSN(dsn))
	counts, err := storecopy.Copy(ctx, src, dst)
	if errors.Is(err, storecopy.ErrNotEmpty) {
		return fmt.Errorf("cloud: migrate: %w: migrate only into a new, empty database", err)
	}
	if err != nil {
		return fmt.Errorf("cloud: migrate: %w", err)
	}
	total := 0
	for _, n := range counts {
		total += n
	}
	fmt.Fprintf(w, "copied %d records; checking (kind, records in bbolt → in PostgreSQL, their sha256):\n", total)
	if err := storecopy.Check(ctx, src, dst, w); err != nil {
		return fmt.Errorf("cloud: migrate: %w", err)
	}
	fmt.Fprintln(w, "the copy matches. Sessions were not copied: officials sign in again. Set store.kind: postgres and store.dsn.")
	return nil
}

// redactDSN hides a password in a DSN that is printed.
func redactDSN(dsn string) string {
	if i := strings.Index(dsn, "://"); i >= 0 {
		if at := strings.LastIndex(dsn, "@"); at > i {
			if colon := strings.Index(dsn[i+3:at], ":"); colon >= 0 {
				return dsn[:i+3+colon] + ":xxxxx" + dsn[at:]
			}
		}
		return dsn
	}
	var out []string
	for _, f := range strings.Fields(dsn) {
		if strings.HasPrefix(f, "password=") {
			f = "password=xxxxx"
		}
		out = append(out, f)
	}
	return strings.Join(out, " ")
}
