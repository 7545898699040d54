package testenv

import (
	"log/slog"
	"os"
	"testing"
)

// Logger returns a logger that writes slog's text lines to the test's own
// output, where t.Log's lines go: shown with -v or when the test fails,
// under the test's name. Records below level are dropped; packages whose
// debug records are per packet pass slog.LevelInfo, or -race runs drown.
//
// The test's output may not be written after the test (and its parents)
// ended, so everything that logs through it must have stopped by then:
// a Run started with Background has.
func Logger(t testing.TB, level slog.Leveler) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: level}))
}

// EnvLogger discards every record unless the environment variable env is
// set; then it writes them all, debug included, as text to stderr. It is
// for tests whose logs are too long to keep on every failure: a failing
// run is replayed with env=1 to read the whole story.
func EnvLogger(env string) *slog.Logger {
	if os.Getenv(env) != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}
