package slot_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dalaba/dalaba/edge/slot"
)

// churnEnv makes the test binary a process that stages, boots and commits
// versions into the slots of the directory it names, forever, until it is
// killed.
const churnEnv = "DALABA_SLOT_CHURN"

func TestMain(m *testing.M) {
	if dir := os.Getenv(churnEnv); dir != "" {
		churn(dir)
		return
	}
	os.Exit(m.Run())
}

// payload is the binary of version n: large enough that a kill often
// lands mid-copy, and saying its version at both ends.
func payload(n int) []byte {
	v := fmt.Sprintf("v%d|", n)
	return []byte(v + strings.Repeat("x", 256<<10) + v)
}

func churn(dir string) {
	d := slot.Dir{Path: filepath.Join(dir, "slots")}
	src := filepath.Join(dir, "src")
	for n := 2; ; n++ {
		// A kill between staging and committing left a trial: this run
		// of the box proves it.
		if s, err := d.Load(); err == nil && s.Trial {
			if _, err := d.Commit(); err != nil {
				os.Exit(1)
			}
		}
		if err := os.WriteFile(src+".tmp", payload(n), 0o644); err != nil {
			os.Exit(1)
		}
		if err := os.Rename(src+".tmp", src); err != nil {
			os.Exit(1)
		}
		if _, err := d.Stage(src, fmt.Sprint("v", n), ""); err != nil {
			os.Exit(1)
		}
		if _, err := d.Boot(3, "crash_loop", "watchdog", time.Now()); err != nil {
			os.Exit(1)
		}
		if n%3 == 0 {
			if _, err := d.Abandon("no_connection", time.Now()); err != nil {
				os.Exit(1)
			}
		} else if _, err := d.Commit(); err != nil {
			os.Exit(1)
		}
		if _, err := d.Boot(3, "crash_loop", "watchdog", time.Now()); err != nil {
			os.Exit(1)
		}
	}
}

// A box killed at any moment of staging, switching, booting, committing
// or going back finds a state it can read, naming slots whose binaries are
// whole and of the versions the state says, and boots one of them.
func TestSIGKILLAtAnyMomentLeavesSlotsThatBoot(t *testing.T) {
	dir := t.TempDir()
	d := slot.Dir{Path: filepath.Join(dir, "slots")}
	first := filepath.Join(dir, "first")
	if err := os.WriteFile(first, payload(1), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := d.Seed(first, "v1"); err != nil {
		t.Fatal(err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	kills := 30
	if testing.Short() {
		kills = 5
	}
	for i := range kills {
		cmd := exec.Command(exe, "-test.run=^$")
		cmd.Env = append(os.Environ(), churnEnv+"="+dir)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(5+i*7%40) * time.Millisecond) // somewhere in its work
		_ = cmd.Process.Signal(syscall.SIGKILL)
		err := cmd.Wait()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
			t.Fatalf("kill %d: the churning process ended on its own: %v", i, err)
		}
		// What the next start of the box does first.
		s, err := d.Boot(3, "crash_loop", "watchdog", time.Now())
		if err != nil {
			t.Fatalf("kill %d: boot: %v", i, err)
		}
		for _, sl := range []string{s.Active, s.Good} {
			b, err := os.ReadFile(d.Binary(sl))
			var n int
			if _, serr := fmt.Sscanf(s.Versions[sl], "v%d", &n); serr != nil || err != nil || string(b) != string(payload(n)) {
				t.Fatalf("kill %d: slot %s should hold %s whole: %d bytes, %v", i, sl, s.Versions[sl], len(b), err)
			}
		}
		cur, err := os.ReadFile(filepath.Join(d.Path, slot.Current, slot.Binary))
		if err != nil || !strings.HasPrefix(string(cur), s.Version()+"|") {
			t.Fatalf("kill %d: current does not run the active slot %s (%v)", i, s.Active, err)
		}
	}
}
