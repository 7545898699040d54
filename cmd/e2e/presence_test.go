package e2e

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"gopkg.in/yaml.v3"

	"github.com/dalaba/dalaba/cloud/store/boltstore"
	"github.com/dalaba/dalaba/protocol"
)

// Bounds of presence with the embedded broker, which hears each
// connection end: milliseconds when healthy, generous for a loaded
// machine. A killed box's socket is closed by its kernel; one whose power
// or link failed is noticed after 1.5 keepalives (1 s here).
const (
	offlineAfterLeaving = time.Second
	offlineAfterKill    = 3 * time.Second
)

// presenceBox is a box as GET /api/v1/boxes/{id} shows its presence.
type presenceBox struct {
	Online         bool      `json:"online"`
	ConnectedSince time.Time `json:"connected_since"`
	LastSeen       time.Time `json:"last_seen"`
	RateLimited    uint64    `json:"rate_limited"`
}

func (c *cloud) presence(t testing.TB, id string) presenceBox {
	t.Helper()
	var b presenceBox
	c.do(t, "GET", "/api/v1/boxes/"+id, nil, &b, http.StatusOK)
	return b
}

// credentials reads the broker section of an edge config.
func credentials(t testing.TB, edgeYAML string) (url, user, pass string) {
	t.Helper()
	var cfg struct {
		Broker struct{ URL, Username, Password string }
	}
	if err := yaml.Unmarshal([]byte(edgeYAML), &cfg); err != nil {
		t.Fatal(err)
	}
	return cfg.Broker.URL, cfg.Broker.Username, cfg.Broker.Password
}

// The township shows a box online exactly while the box is connected to
// its embedded broker: not because a client with the box's credentials
// said so and left, not after the box was killed, not after the
// township itself was killed and restarted.
func TestPresenceFollowsTheConnection(t *testing.T) {
	dataDir := t.TempDir()
	c := startCloud(t, cloudOpts{dataDir: dataDir})
	id := uniqueID("presence")
	edgeYAML := c.addBox(t, id)

	t.Run("a forged retained online status", func(t *testing.T) {
		url, user, pass := credentials(t, edgeYAML)
		forger := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(url).SetClientID("forger").
			SetUsername(user).SetPassword(pass).SetAutoReconnect(false))
		if tok := forger.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("connect with the box's credentials: %v", tok.Error())
		}
		eventually(t, 5*time.Second, "online while the forger is connected", func() bool { return c.presence(t, id).Online })
		online, err := protocol.Marshal(protocol.KindStatus, protocol.Status{V: protocol.Version, BoxID: id, Online: true, At: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		if tok := forger.Publish(protocol.Topic(id, protocol.KindStatus), 1, true, online); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("publish: %v", tok.Error())
		}
		forger.Disconnect(50)
		left := time.Now()
		eventually(t, offlineAfterLeaving, "offline after the forger left", func() bool { return !c.presence(t, id).Online })
		t.Logf("offline %s after the forger left", time.Since(left).Round(time.Millisecond))
	})

	// A keepalive of 1 s, so a box that vanished without closing its
	// socket would be noticed within 1.5 s as well.
	if !strings.Contains(edgeYAML, "\nbroker:\n") {
		t.Fatalf("no broker section in the edge config:\n%s", edgeYAML)
	}
	cfg := writeEdgeConfig(t, strings.Replace(edgeYAML, "\nbroker:\n", "\nbroker:\n  keepalive: 1s\n", 1))
	e := startEdge(t, cfg, t.TempDir())
	t.Run("a real box connected", func(t *testing.T) {
		eventually(t, 5*time.Second, "online once the box connected", func() bool { return c.presence(t, id).Online })
		if b := c.presence(t, id); b.ConnectedSince.IsZero() || b.LastSeen.IsZero() {
			t.Fatalf("%+v: want connected_since and last_seen", b)
		}
	})

	t.Run("the box killed", func(t *testing.T) {
		e.kill()
		killed := time.Now()
		eventually(t, offlineAfterKill, "offline after SIGKILL", func() bool { return !c.presence(t, id).Online })
		t.Logf("offline %s after SIGKILL", time.Since(killed).Round(time.Millisecond))
	})

	t.Run("the township killed while the box was online, restarted without it", func(t *testing.T) {
		e2 := startEdge(t, cfg, t.TempDir())
		eventually(t, 5*time.Second, "online again", func() bool { return c.presence(t, id).Online })
		c.kill() // the store last heard "online"
		e2.kill()
		c2 := startCloud(t, cloudOpts{dataDir: dataDir})
		if b := c2.presence(t, id); b.Online {
			t.Fatalf("online after the restart: %+v", b)
		}
		if b := c2.box(t, id); b.Online {
			t.Fatalf("online in the box list after the restart: %+v", b)
		}
		// What the console reads, the store, was rewritten too.
		c2.stop()
		st, err := boltstore.Open(filepath.Join(dataDir, "cloud.db"), boltstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		if b, err := st.GetBox(t.Context(), id); err != nil || b.Online {
			t.Fatalf("stored box after the restart: online %v, %v", b.Online, err)
		}
	})
}
