package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/dalaba/dalaba/edge/config"
)

// claimCodes uploads sheet (CSV) and returns each village's code.
func (c *cloud) claimCodes(t testing.TB, sheet string) map[string]string {
	t.Helper()
	req, err := http.NewRequest("POST", "http://"+c.HTTP+"/api/v1/claims/sheet", strings.NewReader(sheet))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "text/csv")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out struct {
		Claims []struct{ Village, Code string }
	}
	if resp.StatusCode != http.StatusCreated || json.Unmarshal(b, &out) != nil {
		t.Fatalf("claim codes from a sheet: %d %s", resp.StatusCode, b)
	}
	codes := map[string]string{}
	for _, c := range out.Claims {
		codes[c.Village] = c.Code
	}
	return codes
}

// enrollBox runs dalaba-edge enroll; its exit status and what it printed.
func enrollBox(t testing.TB, c *cloud, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(bins.edge, append([]string{"enroll", "--township", "http://" + c.HTTP, "--timeout", "20s"}, args...)...)
	out, err := cmd.CombinedOutput()
	if ee, ok := errors.AsType[*exec.ExitError](err); ok {
		return ee.ExitCode(), string(out)
	}
	if err != nil {
		t.Fatalf("dalaba-edge enroll: %v", err)
	}
	return 0, string(out)
}

// boxConnects reports whether the broker takes the box's credentials from
// its config.
func boxConnects(t testing.TB, c *cloud, cfgPath string) bool {
	t.Helper()
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	o := mqtt.NewClientOptions().AddBroker("tcp://" + c.MQTT).SetClientID(uniqueID(cfg.BoxID)).
		SetUsername(cfg.Broker.Username).SetPassword(cfg.Broker.Password).SetAutoReconnect(false).SetConnectRetry(false)
	cl := mqtt.NewClient(o)
	tok := cl.Connect()
	if !tok.WaitTimeout(10 * time.Second) {
		t.Fatal("no answer from the broker")
	}
	if tok.Error() != nil {
		return false
	}
	cl.Disconnect(100)
	return true
}

// online reports whether box is registered and online.
func online(c *cloud, box string) bool {
	var b apiBox
	return c.call("GET", "/api/v1/boxes/"+box, nil, &b, http.StatusOK) == nil && b.Online
}

// TestEnrollWithAClaimCode: a box given a claim code enrolls once, comes
// online with the credentials it was given, and is refused by the broker
// the moment it is retired; a used code or another village's is refused
// with a sentence and nothing written; a box left a claim file on its boot
// partition enrolls at its first start and comes online.
func TestEnrollWithAClaimCode(t *testing.T) {
	c := startCloud(t, cloudOpts{})
	codes := c.claimCodes(t, "id,name,place\nenr-1,东山村,东片\nenr-2,西山村\nenr-3,南山村\n")
	if len(codes) != 3 {
		t.Fatalf("codes %v", codes)
	}

	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "etc", "edge.yaml")
	dataDir := filepath.Join(dir, "data")
	status, out := enrollBox(t, c, "--code", strings.ToLower(codes["enr-1"]), "--village", "enr-1", "--config", cfgPath, "--data-dir", dataDir)
	if status != 0 || !strings.Contains(out, "enr-1") {
		t.Fatalf("enroll: exit %d:\n%s", status, out)
	}
	if fi, err := os.Stat(cfgPath); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("config: %v (mode %v), want mode 0600", err, fi.Mode())
	}
	// Boxes run side by side here: no fixed RTSP port.
	f, err := os.OpenFile(cfgPath, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("relay:\n  listen: 127.0.0.1:0\n")
	f.Close()
	e := startEdge(t, cfgPath, dataDir)
	eventually(t, 20*time.Second, "the enrolled box is online", func() bool { return c.box(t, "enr-1").Online })

	// The code enrolls one box only.
	other := filepath.Join(t.TempDir(), "edge.yaml")
	status, out = enrollBox(t, c, "--code", codes["enr-1"], "--config", other)
	if status == 0 || !strings.Contains(out, "used already") {
		t.Fatalf("the code used again: exit %d:\n%s", status, out)
	}
	// Another village's code is refused for this one.
	status, out = enrollBox(t, c, "--code", codes["enr-2"], "--village", "enr-1", "--config", other)
	if status == 0 || !strings.Contains(out, "another village") {
		t.Fatalf("enr-2's code for enr-1: exit %d:\n%s", status, out)
	}
	if _, err := os.Stat(other); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("a refused enrollment wrote a config")
	}

	// Retired, the enrolled box is cut off and its credentials refused.
	if !boxConnects(t, c, cfgPath) {
		t.Fatal("the broker refuses the enrolled box's credentials")
	}
	c.do(t, "POST", "/api/v1/boxes/enr-1/retire", nil, nil, http.StatusOK)
	eventually(t, 10*time.Second, "the retired box is offline", func() bool {
		var b apiBox
		c.do(t, "GET", "/api/v1/boxes/enr-1", nil, &b, http.StatusOK)
		return !b.Online
	})
	if boxConnects(t, c, cfgPath) {
		t.Fatal("the broker took a retired box's credentials")
	}
	e.stop()

	// First boot: no identity, a claim file; the box enrolls, then runs.
	boot := t.TempDir()
	claimFile := filepath.Join(boot, "dalaba-claim.txt")
	os.WriteFile(claimFile, []byte("township: http://"+c.HTTP+"\ncode: "+codes["enr-3"]+"\nvillage: enr-3\n"), 0o644)
	blank := filepath.Join(boot, "edge.yaml") // as the package leaves it: no box id
	os.WriteFile(blank, []byte("box_id: \"\"\nrelay:\n  listen: 127.0.0.1:0\n"), 0o640)
	data3 := filepath.Join(boot, "data")
	p := start(t, "dalaba-edge-first-boot", bins.edge, nil, "run", "--config", blank, "--data-dir", data3, "--claim-file", claimFile)
	eventually(t, 30*time.Second, "the first-boot box is online", func() bool {
		if !p.alive() {
			b, _ := os.ReadFile(p.log)
			t.Fatalf("dalaba-edge exited at its first boot: %v\n%s", p.err, b)
		}
		return online(c, "enr-3")
	})
	enrolled, err := config.Load(filepath.Join(data3, "enrolled.yaml"))
	if err != nil || enrolled.BoxID != "enr-3" || enrolled.Relay.Listen != "127.0.0.1:0" {
		t.Fatalf("enrolled.yaml: %+v, %v", enrolled, err)
	}
	p.stop()
	eventually(t, 10*time.Second, "the stopped box is offline", func() bool { return !online(c, "enr-3") })
	// A second start runs with what it enrolled; the used code is not
	// tried again.
	p = start(t, "dalaba-edge-second-boot", bins.edge, nil, "run", "--config", blank, "--data-dir", data3, "--claim-file", claimFile)
	eventually(t, 30*time.Second, "the box is online again", func() bool {
		if !p.alive() {
			t.Fatalf("dalaba-edge exited at its second boot: %v", p.err)
		}
		return online(c, "enr-3")
	})
	b, _ := os.ReadFile(p.log)
	if bytes.Contains(b, []byte("enrolling with")) {
		t.Fatalf("the second boot enrolled again:\n%s", b)
	}
}
