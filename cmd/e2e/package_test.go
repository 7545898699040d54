package e2e

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/dalaba/dalaba/internal/testenv"
)

// The Debian packages `make package` builds, installed with dpkg into a
// clean Debian root: the files land where the unit and the docs say, the
// dalaba user exists, the config is a conffile the daemon can read and
// others cannot, nothing is enabled, and an upgrade replaces the binary but
// keeps the config the installer edited.
func TestDebianPackageInstallAndUpgrade(t *testing.T) {
	t.Parallel() // its own Debian root and release; mostly dpkg's I/O, so it shares the CPU well
	v1 := firstRelease(t)
	root := debianRoot(t)

	// A first install of both packages, as a demo machine would have them.
	install(t, root, v1.deb("dalaba-edge", "amd64"), v1.deb("dalaba-cloud", "amd64"))
	for _, pkg := range []string{"dalaba-edge", "dalaba-cloud"} {
		if got := inRoot(t, root, "dpkg-query", "-W", "-f", "${Version} ${Status}", pkg); got != "1.0.0 install ok installed" {
			t.Errorf("dpkg-query %s: %q, want 1.0.0 installed", pkg, got)
		}
	}
	layout := []struct{ path, owner, mode string }{
		{"/usr/bin/dalaba-edge", "root:root", "755"},
		{"/usr/bin/dalaba-cloud", "root:root", "755"},
		{"/usr/lib/systemd/system/dalaba-edge.service", "root:root", "644"},
		{"/usr/lib/systemd/system/dalaba-cloud.service", "root:root", "644"},
		{"/etc/dalaba", "root:root", "755"},
		{"/etc/dalaba/edge.yaml", "root:dalaba", "640"},
		{"/etc/dalaba/cloud.yaml", "root:dalaba", "640"},
		{"/var/lib/dalaba", "dalaba:dalaba", "750"},
		{"/var/lib/dalaba-cloud", "dalaba:dalaba", "750"},
	}
	for _, f := range layout {
		if got, want := inRoot(t, root, "stat", "-c", "%U:%G %a", f.path), f.owner+" "+f.mode; got != want {
			t.Errorf("%s: %s, want %s", f.path, got, want)
		}
	}
	// A system user (uid below 1000 in Debian) without a login shell.
	user := strings.Split(inRoot(t, root, "getent", "passwd", "dalaba"), ":")
	if len(user) != 7 {
		t.Fatalf("getent passwd dalaba: %q", user)
	}
	if uid, err := strconv.Atoi(user[2]); err != nil || uid >= 1000 || user[6] != "/usr/sbin/nologin" {
		t.Errorf("the dalaba user: %q, want a system user without a login shell", user)
	}
	if g := inRoot(t, root, "id", "-gn", "dalaba"); g != "dalaba" {
		t.Errorf("the dalaba user's group is %q, want dalaba", g)
	}
	for _, unit := range []string{"dalaba-edge", "dalaba-cloud"} {
		b := readRoot(t, root, "/usr/lib/systemd/system/"+unit+".service")
		src, err := os.ReadFile("../../configs/systemd/" + unit + ".service")
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b, src) {
			t.Errorf("the packaged %s.service is not configs/systemd/%[1]s.service", unit)
		}
		// The unit runs what the package installed, as the user it made.
		var program string
		var pre []string
		for l := range strings.Lines(string(b)) {
			if rest, ok := strings.CutPrefix(strings.TrimSpace(l), "ExecStart="); ok {
				program = strings.Fields(rest)[0]
			}
			if rest, ok := strings.CutPrefix(strings.TrimSpace(l), "ExecStartPre="); ok {
				pre = strings.Fields(rest)
			}
		}
		// The box's unit starts the software slot that its ExecStartPre
		// (dalaba-edge slot boot) chose; run that step as systemd would,
		// as the daemon's user in its state directory (StateDirectory=).
		if len(pre) > 0 {
			inRoot(t, root, "install", "-d", "-o", "dalaba", "-g", "dalaba", "-m", "0750", "/var/lib/dalaba")
			// slot boot finds its own binary through /proc, which a
			// booted system has and a bare chroot lacks.
			proc := filepath.Join(root, "proc")
			if out, err := exec.Command("mount", "-t", "proc", "proc", proc).CombinedOutput(); err != nil {
				t.Fatalf("mounting /proc in the Debian root: %v: %s", err, out)
			}
			t.Cleanup(func() { _ = exec.Command("umount", "-l", proc).Run() })
			if out, err := chroot(root, "dalaba:dalaba", pre...); err != nil {
				t.Fatalf("%s.service's ExecStartPre %q: %v\n%s", unit, pre, err, out)
			}
		}
		if got := inRoot(t, root, "stat", "-c", "%F %a", program); got != "regular file 755" {
			t.Errorf("%s.service starts %q, which in the installed root is %q", unit, program, got)
		}
		if !hasLine(b, "User=dalaba") {
			t.Errorf("%s.service does not run as dalaba", unit)
		}
		// Nothing starts at boot until the installer says so.
		if _, err := os.Lstat(filepath.Join(root, "etc/systemd/system/multi-user.target.wants", unit+".service")); err == nil {
			t.Errorf("%s is enabled by the install; it must wait until it is configured", unit)
		}
	}
	if got := inRoot(t, root, "dpkg-query", "-W", "-f", "${Conffiles}", "dalaba-edge"); !strings.Contains(got, "/etc/dalaba/edge.yaml ") {
		t.Errorf("dalaba-edge's conffiles: %q, want /etc/dalaba/edge.yaml", got)
	}
	example, err := os.ReadFile("../../configs/edge.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(readRoot(t, root, "/etc/dalaba/edge.yaml"), example) {
		t.Error("/etc/dalaba/edge.yaml is not configs/edge.example.yaml")
	}
	// The daemon's user reads the config (it holds the broker password);
	// another user does not.
	if _, err := chroot(root, "dalaba:dalaba", "cat", "/etc/dalaba/edge.yaml"); err != nil {
		t.Errorf("the dalaba user cannot read its config: %v", err)
	}
	if _, err := chroot(root, "nobody:nogroup", "cat", "/etc/dalaba/edge.yaml"); err == nil {
		t.Error("nobody can read /etc/dalaba/edge.yaml, which holds the box's broker password")
	}
	if got := inRoot(t, root, "dalaba-edge", "--version"); !strings.HasPrefix(got, "dalaba-edge v1.0.0 ") {
		t.Errorf("dalaba-edge --version: %q, want dalaba-edge v1.0.0 …", got)
	}
	if got := inRoot(t, root, "dalaba-cloud", "--version"); got != "dalaba-cloud v1.0.0" {
		t.Errorf("dalaba-cloud --version: %q, want dalaba-cloud v1.0.0", got)
	}

	// The installer puts the box's own config in place; then v1.1.0.
	edited := append([]byte("# 东山村 3号箱, provisioned by hand\n"), bytes.Replace(example, []byte("box_id: village-1"), []byte("box_id: dongshan-3"), 1)...)
	if err := os.WriteFile(filepath.Join(root, "etc/dalaba/edge.yaml"), edited, 0o640); err != nil {
		t.Fatal(err)
	}
	oldBin := sha256.Sum256(readRoot(t, root, "/usr/bin/dalaba-edge"))
	v2 := release(t, "v1.1.0", []string{"amd64"}, nil)
	install(t, root, v2.deb("dalaba-edge", "amd64"))
	if got := inRoot(t, root, "dpkg-query", "-W", "-f", "${Version}", "dalaba-edge"); got != "1.1.0" {
		t.Errorf("after the upgrade dalaba-edge is %q, want 1.1.0", got)
	}
	if !bytes.Equal(readRoot(t, root, "/etc/dalaba/edge.yaml"), edited) {
		t.Errorf("the upgrade changed the edited /etc/dalaba/edge.yaml:\n%s", readRoot(t, root, "/etc/dalaba/edge.yaml"))
	}
	if got := inRoot(t, root, "stat", "-c", "%U:%G %a", "/etc/dalaba/edge.yaml"); got != "root:dalaba 640" {
		t.Errorf("after the upgrade /etc/dalaba/edge.yaml is %s, want root:dalaba 640", got)
	}
	if sha256.Sum256(readRoot(t, root, "/usr/bin/dalaba-edge")) == oldBin {
		t.Error("the upgrade left the old binary in /usr/bin/dalaba-edge")
	}
	if got := inRoot(t, root, "dalaba-edge", "--version"); !strings.HasPrefix(got, "dalaba-edge v1.1.0 ") {
		t.Errorf("after the upgrade dalaba-edge --version: %q, want dalaba-edge v1.1.0 …", got)
	}

	// Removing keeps the config; purging drops it but keeps the box's
	// state (its undelivered events) and the user.
	inRoot(t, root, "dpkg", "--remove", "dalaba-edge")
	if _, err := os.Stat(filepath.Join(root, "usr/bin/dalaba-edge")); err == nil {
		t.Error("dpkg --remove left /usr/bin/dalaba-edge")
	}
	if !bytes.Equal(readRoot(t, root, "/etc/dalaba/edge.yaml"), edited) {
		t.Error("dpkg --remove changed /etc/dalaba/edge.yaml")
	}
	inRoot(t, root, "dpkg", "--purge", "dalaba-edge")
	if _, err := os.Stat(filepath.Join(root, "etc/dalaba/edge.yaml")); err == nil {
		t.Error("dpkg --purge left /etc/dalaba/edge.yaml")
	}
	if got := inRoot(t, root, "dpkg-statoverride", "--list"); strings.Contains(got, "edge.yaml") {
		t.Errorf("dpkg --purge left the config's owner override: %q", got)
	}
	if _, err := os.Stat(filepath.Join(root, "var/lib/dalaba")); err != nil {
		t.Errorf("dpkg --purge removed the box's state: %v", err)
	}
}

// Debian versions made from git describe sort the way the releases follow
// each other, and dpkg takes each of them.
func TestDebianVersionFromGitDescribe(t *testing.T) {
	dpkg := testenv.Tool(t, "dpkg", "apt-get install dpkg")
	cases := []struct{ describe, want string }{
		{"v1.4.0-rc.1", "1.4.0~rc.1"},
		{"v1.4.0-rc.1-2-gabcdef0", "1.4.0~rc.1+2.gabcdef0"},
		{"v1.4.0", "1.4.0"},
		{"v1.4.0-dirty", "1.4.0+0.dirty"},
		{"v1.4.0-3-g1a2b3c4", "1.4.0+3.g1a2b3c4"},
		{"v1.4.0-3-g1a2b3c4-dirty", "1.4.0+3.g1a2b3c4.dirty"},
		{"v1.4.0-12-g9f8e7d6", "1.4.0+12.g9f8e7d6"},
		{"v1.5.0", "1.5.0"},
	}
	prev := ""
	for _, c := range cases {
		got, err := debVersion(c.describe)
		if err != nil || got != c.want {
			t.Errorf("debversion %s = %q, %v; want %q", c.describe, got, err, c.want)
			continue
		}
		if out, err := exec.Command(dpkg, "--validate-version", got).CombinedOutput(); err != nil {
			t.Errorf("dpkg refuses version %q (from %s): %s", got, c.describe, out)
		}
		if prev != "" {
			if err := exec.Command(dpkg, "--compare-versions", prev, "lt", got).Run(); err != nil {
				t.Errorf("dpkg sorts %q (from %s) before %q: releases would go backwards", got, c.describe, prev)
			}
		}
		prev = got
	}
	// Before the first tag: the commit count keeps versions in order.
	head, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		t.Skipf("not in a git checkout: %v", err)
	}
	count, err := exec.Command("git", "rev-list", "--count", "HEAD").Output()
	if err != nil {
		t.Fatal(err)
	}
	h, n := strings.TrimSpace(string(head)), strings.TrimSpace(string(count))
	if got, err := debVersion(h); err != nil || got != "0.0.0+"+n+".g"+h {
		t.Errorf("debversion %s (no tag) = %q, %v; want 0.0.0+%s.g%s", h, got, err, n, h)
	}
	// What cannot be a release is refused rather than packaged.
	for _, bad := range []string{"dev", "release candidate", "v1.0_beta"} {
		if got, err := debVersion(bad); err == nil {
			t.Errorf("debversion %q = %q, want a refusal", bad, got)
		}
	}
}

func debVersion(describe string) (string, error) {
	cmd := exec.Command("../../configs/packaging/debversion.sh", describe)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%w: %s", err, stderr.Bytes())
	}
	return strings.TrimSpace(string(out)), nil
}

// debs is one `make package` run: its output directory and version.
type debs struct {
	dir     string
	version string // the Debian one, e.g. 1.0.0
}

func (d debs) deb(name, arch string) string {
	return filepath.Join(d.dir, name+"_"+d.version+"_"+arch+".deb")
}

// releases memoises `make package` runs for the test binary: the package
// test and the Pi test share v1.
var releases struct {
	mu   sync.Mutex
	made map[string]debs
}

// release runs `make package` for version (a git tag) and the given
// architectures, once per test binary, into a directory beside the daemons
// TestMain built; a test that asks for the same release reuses it.
func release(t *testing.T, version string, edgeArchs, cloudArchs []string) debs {
	t.Helper()
	testenv.Tool(t, "make", "apt-get install make")
	key := version + "|" + strings.Join(edgeArchs, " ") + "|" + strings.Join(cloudArchs, " ")
	releases.mu.Lock()
	defer releases.mu.Unlock()
	if d, ok := releases.made[key]; ok {
		return d
	}
	dir, err := os.MkdirTemp(bins.dir, "dist-")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	cmd := exec.Command("make", "-C", "../..", "--no-print-directory", "package", "VERSION="+version, "DIST="+dir,
		"EDGE_ARCHS="+strings.Join(edgeArchs, " "), "CLOUD_ARCHS="+strings.Join(cloudArchs, " "))
	// This test may itself run under make: the inner make must not join
	// the outer one's jobs.
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); k != "MAKEFLAGS" && k != "MFLAGS" && k != "MAKELEVEL" {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make package VERSION=%s: %v\n%s", version, err, out)
	}
	t.Logf("make package VERSION=%s (edge %v, cloud %v): %s", version, edgeArchs, cloudArchs, time.Since(start).Round(100*time.Millisecond))
	d := debs{dir: dir}
	if d.version, err = debVersion(version); err != nil {
		t.Fatal(err)
	}
	for _, arch := range edgeArchs {
		mustExist(t, d.deb("dalaba-edge", arch))
	}
	for _, arch := range cloudArchs {
		mustExist(t, d.deb("dalaba-cloud", arch))
	}
	if releases.made == nil {
		releases.made = map[string]debs{}
	}
	releases.made[key] = d
	return d
}

func mustExist(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("make package made no %s: %v", filepath.Base(path), err)
	}
}

// The clean Debian root the packages are installed into: a minbase
// bookworm (Debian 12, what Raspberry Pi OS is built on) made once with
// debootstrap from the mirror this machine's apt uses, kept in a cache
// outside the repository, and copied for each test.
const (
	debSuite = "bookworm"
	// debCacheEnv names the cache directory; /var/cache/dalaba-test by default.
	debCacheEnv = "DALABA_TEST_CACHE"
	// debMirrorEnv overrides the mirror read from /etc/apt.
	debMirrorEnv = "DALABA_TEST_DEBIAN_MIRROR"
	// debStamp is written into the root last: a root without it is a
	// debootstrap that did not finish.
	debStamp = ".dalaba-debroot"
)

// debianRoot returns a fresh copy of the cached Debian root, made first if
// need be, deleted when the test ends.
func debianRoot(t *testing.T) string {
	t.Helper()
	testenv.Root(t, "chroot and dpkg into a Debian root")
	debootstrap := testenv.Tool(t, "debootstrap", "apt-get install debootstrap (make deps)")
	testenv.Tool(t, "chroot", "apt-get install coreutils")

	cache := os.Getenv(debCacheEnv)
	if cache == "" {
		cache = "/var/cache/dalaba-test"
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		t.Fatal(err)
	}
	cached := filepath.Join(cache, "debroot-"+debSuite)
	// One builder at a time: another test binary may be making it now.
	lock, err := os.OpenFile(cached+".lock", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(cached, debStamp)); err != nil {
		mirror := aptMirror()
		tmp := cached + ".new"
		if err := os.RemoveAll(tmp); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		out, err := exec.Command(debootstrap, "--variant=minbase", debSuite, tmp, mirror).CombinedOutput()
		if err != nil {
			t.Fatalf("debootstrap %s from %s: %v\n%s", debSuite, mirror, err, tail(out, 3000))
		}
		// The downloaded archives are not needed in the copies.
		archives, _ := filepath.Glob(filepath.Join(tmp, "var/cache/apt/archives/*.deb"))
		for _, a := range archives {
			os.Remove(a)
		}
		if err := os.WriteFile(filepath.Join(tmp, debStamp), []byte(mirror+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.RemoveAll(cached); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, cached); err != nil {
			t.Fatal(err)
		}
		t.Logf("debootstrap %s from %s into %s: %s", debSuite, mirror, cached, time.Since(start).Round(time.Second))
	}
	root := filepath.Join(t.TempDir(), "root")
	if out, err := exec.Command("cp", "-a", "--reflink=auto", cached, root).CombinedOutput(); err != nil {
		t.Fatalf("copying the Debian root: %v: %s", err, out)
	}
	return root
}

// aptMirror is the Debian mirror this machine's apt uses (the first
// ".../debian" URI in /etc/apt/sources.list or sources.list.d), or
// deb.debian.org.
func aptMirror() string {
	if m := os.Getenv(debMirrorEnv); m != "" {
		return m
	}
	files, _ := filepath.Glob("/etc/apt/sources.list.d/*.sources")
	lists, _ := filepath.Glob("/etc/apt/sources.list.d/*.list")
	for _, name := range append(append([]string{"/etc/apt/sources.list"}, files...), lists...) {
		f, err := os.Open(name)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			var uris []string
			switch {
			case len(fields) >= 2 && fields[0] == "URIs:": // deb822
				uris = fields[1:]
			case len(fields) >= 3 && fields[0] == "deb": // one-line style, maybe with [options]
				for _, f := range fields[1:] {
					if strings.Contains(f, "://") {
						uris = append(uris, f)
						break
					}
				}
			}
			for _, u := range uris {
				if strings.HasSuffix(strings.TrimSuffix(u, "/"), "/debian") {
					f.Close()
					return u
				}
			}
		}
		f.Close()
	}
	return "http://deb.debian.org/debian"
}

// chroot runs a command inside root as userspec (user:group), with a plain
// environment, and returns its standard output.
func chroot(root, userspec string, args ...string) (string, error) {
	cmd := exec.Command("chroot", append([]string{"--userspec=" + userspec, root}, args...)...)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C", "DEBIAN_FRONTEND=noninteractive", "HOME=/root"}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("%s: %w: %s", strings.Join(args, " "), err, stderr.Bytes())
	}
	return strings.TrimSpace(string(out)), nil
}

// inRoot runs a command as root inside root, failing the test if it fails.
func inRoot(t *testing.T, root string, args ...string) string {
	t.Helper()
	out, err := chroot(root, "root:root", args...)
	if err != nil {
		t.Fatalf("in the Debian root: %v", err)
	}
	return out
}

// install copies the packages into root and installs them with dpkg -i.
func install(t *testing.T, root string, pkgs ...string) {
	t.Helper()
	args := []string{"dpkg", "-i"}
	for _, p := range pkgs {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, "tmp", filepath.Base(p)), b, 0o644); err != nil {
			t.Fatal(err)
		}
		args = append(args, "/tmp/"+filepath.Base(p))
	}
	inRoot(t, root, args...)
}

func readRoot(t *testing.T, root, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, path))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func hasLine(text []byte, line string) bool {
	for l := range strings.Lines(string(text)) {
		if strings.TrimSpace(l) == line {
			return true
		}
	}
	return false
}
