package archtest

import (
	"bufio"
	"bytes"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/dalaba/dalaba"

// deps maps each package of the module to everything it imports, directly
// or not, as `go list -deps` sees it (tests excluded).
func deps(t *testing.T) map[string][]string {
	t.Helper()
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Deps}} {{.}}{{end}}`, module+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	m := map[string][]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) > 0 {
			m[f[0]] = f[1:]
		}
	}
	return m
}

func under(pkg, root string) bool { return pkg == root || strings.HasPrefix(pkg, root+"/") }

func isStd(pkg string) bool {
	first, _, _ := strings.Cut(pkg, "/")
	return !strings.Contains(first, ".")
}

func TestImportRules(t *testing.T) {
	all := deps(t)
	if len(all) < 3 {
		t.Fatalf("go list saw only %d packages", len(all))
	}
	forbid := func(pkgRoot string, bad func(dep string) bool, why string) {
		checked := 0
		for pkg, ds := range all {
			if !under(pkg, pkgRoot) || strings.Contains(pkg, "test") {
				continue
			}
			checked++
			for _, d := range ds {
				if bad(d) {
					t.Errorf("%s imports %s: %s", pkg, d, why)
				}
			}
		}
		if checked == 0 {
			t.Errorf("no package under %s was checked", pkgRoot)
		}
	}
	// x/sys/cpu comes with x/crypto: its Argon2id and ChaCha20 choose
	// their vector code by it (protocol/claim).
	forbid(module+"/protocol", func(d string) bool {
		return !isStd(d) && !under(d, "golang.org/x/crypto") && d != "golang.org/x/sys/cpu" && !under(d, module+"/protocol") && !strings.HasPrefix(d, "vendor/")
	}, "protocol imports only the standard library and x/crypto")
	forbid(module+"/edge", func(d string) bool { return under(d, module+"/cloud") }, "edge never imports cloud")
	forbid(module+"/cloud", func(d string) bool { return under(d, module+"/edge") }, "cloud never imports edge")
	// Packages named *test (storetest, rtcpeertest ...) are test helpers
	// themselves, and forbid passes over them.
	forbid(module, func(d string) bool { return d == module+"/internal/testenv" }, "only tests import internal/testenv")
	forbid(module+"/cloud/lease", func(d string) bool { return under(d, module) }, "the lease runner knows nothing of stores or the jobs it runs")
	if _, ok := all[module+"/devices"]; ok || hasUnder(all, module+"/devices") {
		forbid(module+"/devices", func(d string) bool {
			return under(d, module+"/edge") || under(d, module+"/cloud") || under(d, module+"/protocol") ||
				under(d, "github.com/eclipse/paho.mqtt.golang") || under(d, "go.etcd.io/bbolt")
		}, "devices know nothing of the apps, MQTT or bbolt")
	}
	for cmd, allowed := range map[string][]string{
		"dalaba-edge":  {module + "/edge", module + "/edge/config"},
		"dalaba-cloud": {module + "/cloud", module + "/cloud/config"},
		// The simulator is the devices' own front end: no app behind it;
		// its fleet of boxes meets the township only at the protocol.
		"dalaba-sim": {module + "/devices/audio", module + "/devices/speaker/speakersim", module + "/devices/camera/sim",
			module + "/cmd/dalaba-sim/fleetsim", module + "/protocol"},
	} {
		pkg := module + "/cmd/" + cmd
		direct, err := exec.Command("go", "list", "-f", `{{join .Imports " "}}`, pkg).Output()
		if err != nil {
			t.Errorf("go list %s: %v", pkg, err)
			continue
		}
		for _, d := range strings.Fields(string(direct)) {
			if under(d, module) && !slices.Contains(allowed, d) {
				t.Errorf("%s imports %s: a command imports only its front-end packages %v", pkg, d, allowed)
			}
		}
	}
}

func hasUnder(all map[string][]string, root string) bool {
	for p := range all {
		if under(p, root) {
			return true
		}
	}
	return false
}
