// Package testenv is shared test plumbing. First, how a test reacts when a
// real component it needs (Mosquitto, PostgreSQL, ffmpeg, Chromium) is
// missing: under CI=true a missing component fails the test, so CI can never
// go green by skipping; elsewhere the test skips with a hint naming how to
// get it. Then what many packages' tests do alike: log to the test's output
// (Logger, EnvLogger), run a component's Run(ctx) in the background until
// the test stops it or ends (Background), and poll a condition to a deadline
// instead of sleeping (WaitFor); and how big a benchmark runs under make
// test (BenchSize).
// Only tests import it (internal/archtest checks).
package testenv

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// InCI reports whether the tests run under CI (CI=true).
func InCI() bool { return os.Getenv("CI") == "true" }

// Missing fails the test under CI and skips it elsewhere, naming what is
// missing and how to get it.
func Missing(t testing.TB, what, hint string) {
	t.Helper()
	if InCI() {
		t.Fatalf("%s is missing (CI=true, so this fails): %s", what, hint)
	}
	t.Skipf("%s is missing; %s", what, hint)
}

// Tool returns the path of a command, or calls Missing.
func Tool(t testing.TB, name, hint string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Missing(t, name, hint)
	}
	return p
}

// Root checks the test runs as root (what needs it: chroot, dpkg into a
// Debian root), or calls Missing.
func Root(t testing.TB, what string) {
	t.Helper()
	if os.Geteuid() != 0 {
		Missing(t, "root (uid 0), which "+what+" needs,", "run the test as root, as CI does")
	}
}

// TCP checks that something listens on addr, or calls Missing.
func TCP(t testing.TB, addr, what, hint string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		Missing(t, what+" at "+addr, hint)
		return
	}
	_ = c.Close() // a probe; nothing was written
}

// MosquittoAddr is the Mosquitto every developer machine and CI runs.
const MosquittoAddr = "127.0.0.1:1883"

// Mosquitto checks the shared Mosquitto is up and returns its address.
func Mosquitto(t testing.TB) string {
	t.Helper()
	TCP(t, MosquittoAddr, "Mosquitto", "apt-get install mosquitto && mosquitto -d")
	return MosquittoAddr
}

// PostgresDSN returns the DSN of the local PostgreSQL, checking it is up.
// DALABA_TEST_PG overrides it.
func PostgresDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv("DALABA_TEST_PG")
	if dsn == "" {
		dsn = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	TCP(t, "127.0.0.1:5432", "PostgreSQL", "apt-get install postgresql, or set DALABA_TEST_PG")
	return dsn
}

// ScreenshotsEnv names a directory the browser tests write their
// screenshots to: `make screenshots` sets it to the README's images.
// Without it they go to the test's artifact directory (kept with
// -artifacts), so a test run never changes the tree.
const ScreenshotsEnv = "DALABA_SCREENSHOTS"

// Screenshot keeps png as name.png and logs where.
func Screenshot(t *testing.T, name string, png []byte) {
	t.Helper()
	dir := os.Getenv(ScreenshotsEnv)
	if dir == "" {
		dir = t.ArtifactDir()
	}
	path := filepath.Join(dir, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatalf("keeping screenshot %s: %v", name, err)
	}
	t.Logf("screenshot: %s (%d bytes)", path, len(png))
}
