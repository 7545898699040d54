package e2e

import (
	"context"
	"debug/elf"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dalaba/dalaba/devices/speaker/speakersim"
	"github.com/dalaba/dalaba/edge/broadcast"
	"github.com/dalaba/dalaba/internal/testenv"
	"github.com/dalaba/dalaba/protocol"
)

// piArch is a Debian architecture of the village boxes, and how this
// machine runs its binaries: Debian's qemu-user-static, with the C library
// of Debian's cross toolchain as the root it loads libraries from (the box
// binary names the board's dynamic loader; see firmware-notes).
type piArch struct {
	deb      string // Debian architecture
	qemu     string
	sysroot  string
	crossPkg string
	machine  elf.Machine
	class    elf.Class
}

var piArchs = []piArch{
	{"arm64", "qemu-aarch64-static", "/usr/aarch64-linux-gnu", "libc6-arm64-cross", elf.EM_AARCH64, elf.ELFCLASS64}, // Pi 4/5, CM4
	{"armhf", "qemu-arm-static", "/usr/arm-linux-gnueabihf", "libc6-armhf-cross", elf.EM_ARM, elf.ELFCLASS32},       // Pi 2/3 and armv7 boards
}

// launcher returns the command line that runs an ARM binary here, or calls
// Missing.
func (a piArch) launcher(t *testing.T) []string {
	t.Helper()
	qemu := testenv.Tool(t, a.qemu, "apt-get install qemu-user-static (make deps)")
	if _, err := os.Stat(filepath.Join(a.sysroot, "lib")); err != nil {
		testenv.Missing(t, a.sysroot, "apt-get install "+a.crossPkg+" (make deps)")
	}
	return []string{qemu, "-L", a.sysroot}
}

// firstRelease is v1.0.0 of the packages: the Pi test and the package test
// share one `make package` run.
func firstRelease(t *testing.T) debs {
	t.Helper()
	return release(t, "v1.0.0", []string{"amd64", "arm64", "armhf"}, []string{"amd64"})
}

// The arm64 and armv7 box binaries, as the packages carry them, run under
// qemu-user against a real township service on loopback: each box comes
// online, applies its desired state (a horn, a zone, a schedule) and, at
// the scheduled second, plays the clip over RTP to the simulated horn.
func TestPiBinariesPlayASchedule(t *testing.T) {
	rel := firstRelease(t)
	shanghai, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	c := startCloud(t, cloudOpts{})
	clip := c.upload(t, "上课铃.wav", toneWAV(t, 440, 500*time.Millisecond))

	for _, a := range piArchs {
		t.Run(a.deb, func(t *testing.T) {
			t.Parallel()
			run := a.launcher(t)
			deb := rel.deb("dalaba-edge", a.deb)
			if got, err := exec.Command("dpkg-deb", "--field", deb, "Architecture").Output(); err != nil || strings.TrimSpace(string(got)) != a.deb {
				t.Fatalf("%s: Architecture %q (%v), want %s", filepath.Base(deb), got, err, a.deb)
			}
			bin := unpackDeb(t, deb, "usr/bin/dalaba-edge")
			checkELF(t, bin, a.class, a.machine)
			out, err := exec.Command(run[0], append(run[1:], bin, "--version")...).CombinedOutput()
			if err != nil || !strings.HasPrefix(string(out), "dalaba-edge v1.0.0 ") {
				t.Fatalf("dalaba-edge --version under %s: %q, %v", a.qemu, out, err)
			}

			horn := startSpeakerSim(t)
			id := uniqueID("pi-" + a.deb)
			cfg := writeEdgeConfig(t, c.addBox(t, id))
			startEdgeUnder(t, "dalaba-edge-"+a.deb, run, bin, cfg, t.TempDir())
			eventually(t, 30*time.Second, "the box is online at the township", func() bool { return c.box(t, id).Online })

			c.do(t, "PUT", "/api/v1/boxes/"+id+"/speakers/horn",
				protocol.Speaker{ID: "horn", Driver: protocol.DriverRTP, Addr: horn.Addr().String()}, nil, http.StatusOK)
			c.do(t, "PUT", "/api/v1/boxes/"+id+"/zones/square",
				map[string]any{"id": "square", "speakers": []string{"horn"}}, nil, http.StatusOK)
			// A few seconds ahead: enough to sign, deliver and apply
			// the plan; an emulated box that applies it later still
			// plays, late, within its grace.
			at := time.Now().Add(5 * time.Second).Truncate(time.Second).In(shanghai)
			var plan struct {
				DesiredRev uint64 `json:"desired_rev"`
			}
			c.do(t, "PUT", "/api/v1/boxes/"+id+"/schedules/bell", map[string]any{
				"id": "bell", "name": "上课铃", "media": []string{clip}, "zones": []string{"square"},
				"rule": map[string]any{"once": at.Format(time.RFC3339)}, "no_chime": true,
			}, &plan, http.StatusOK)
			eventually(t, 30*time.Second, fmt.Sprintf("the box applies desired rev %d", plan.DesiredRev), func() bool {
				return c.box(t, id).AppliedRev == plan.DesiredRev
			})

			ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
			defer cancel()
			if err := horn.Wait(ctx, func(st speakersim.Stats, _ int) bool { return st.Ended >= 1 }); err != nil {
				t.Fatalf("the horn heard nothing by %s (scheduled for %s): %+v", time.Now().In(shanghai).Format(time.TimeOnly), at.Format(time.TimeOnly), horn.Stats())
			}
			heard := horn.Audio()
			if st := horn.Stats(); st.Spurts != 1 || heard.Duration() < 400*time.Millisecond || rms(heard.Samples) < 1000 {
				t.Fatalf("the horn heard %d spurts, %v at rms %.0f; want the one 500 ms tone", st.Spurts, heard.Duration(), rms(heard.Samples))
			}
			eventually(t, 30*time.Second, "the play log reaches the township", func() bool {
				played, _ := playLog(t, c.events(t, id))
				return slices.ContainsFunc(played, func(l protocol.PlayLog) bool {
					return l.ScheduleID == "bell" && l.ScheduledAt.Equal(at) && l.Result == broadcast.ResultPlayed &&
						slices.Equal(l.Speakers, []string{"horn"})
				})
			})
		})
	}
}

// startEdgeUnder runs the box binary through a launcher (qemu-user) and
// waits until its local API answers.
func startEdgeUnder(t *testing.T, name string, launcher []string, bin, config, dataDir string) *proc {
	t.Helper()
	args := append(slices.Clone(launcher[1:]), bin, "--config", config, "--data-dir", dataDir)
	p := start(t, name, launcher[0], nil, args...)
	sock := filepath.Join(dataDir, "dalaba-edge.sock")
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		},
	}}
	eventually(t, 30*time.Second, name+"'s local API answers", func() bool {
		if !p.alive() {
			t.Fatalf("%s exited: %v", name, p.err)
		}
		resp, err := client.Get("http://edge/v1/status")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return p
}

// unpackDeb extracts a package's data into a temporary directory and
// returns the path of one of its files.
func unpackDeb(t *testing.T, deb, file string) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("dpkg-deb", "--extract", deb, dir).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb --extract %s: %v: %s", filepath.Base(deb), err, out)
	}
	return filepath.Join(dir, file)
}

// checkELF fails the test unless bin is a Linux executable for class and
// machine.
func checkELF(t *testing.T, bin string, class elf.Class, machine elf.Machine) {
	t.Helper()
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatalf("%s: %v", bin, err)
	}
	defer f.Close()
	if f.Class != class || f.Machine != machine || f.Type != elf.ET_EXEC {
		t.Fatalf("%s is %v %v %v, want %v %v executable", bin, f.Class, f.Machine, f.Type, class, machine)
	}
}
