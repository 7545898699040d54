package cloud

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dalaba/dalaba/cloud/config"
	"github.com/dalaba/dalaba/cloud/fleet"
	"github.com/dalaba/dalaba/cloud/store"
	"github.com/dalaba/dalaba/cmd/dalaba-sim/fleetsim"
	"github.com/dalaba/dalaba/internal/promtest"
	"github.com/dalaba/dalaba/internal/testenv"
	"github.com/dalaba/dalaba/protocol"
)

// surgeBoxes is how many boxes connect in one burst in TestConnectSurge;
// under the race detector (make test, where it slows the thousands of
// connections of one process many times over, with other packages'
// tests on the same two cores) a quarter as many.
func surgeBoxes() int {
	if testenv.Race {
		return 500
	}
	return 2000
}

// surgeOnline is the must-hold bound of the surge: every box shown online
// within it of the burst.
const surgeOnline = 10 * time.Second

// registerSim registers n simulated boxes, sim-0000 on, in the store of
// a township not yet started, and returns their credentials.
func registerSim(t testing.TB, dir string, n int) []fleetsim.Box {
	t.Helper()
	st, err := openBolt(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	boxes := make([]fleetsim.Box, n)
	for i := range boxes {
		b := fleetsim.Box{ID: fmt.Sprintf("sim-%04d", i), Password: fmt.Sprintf("secret-of-sim-%04d", i)}
		if err := st.CreateBox(t.Context(), store.Box{ID: b.ID, Name: "模拟村 " + b.ID, SecretHash: fleet.SecretHash(b.Password), CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
		boxes[i] = b
	}
	return boxes
}

// townshipKey reads the public half of the key a township made in dir.
func townshipKey(t testing.TB, dir string) ed25519.PublicKey {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, keyFile))
	if err != nil {
		t.Fatal(err)
	}
	k, err := protocol.ParsePrivateKey(strings.TrimSpace(string(raw)))
	if err != nil {
		t.Fatal(err)
	}
	return k.Public().(ed25519.PublicKey)
}

// A county's boxes all reconnect at once (the township restarted, a
// regional link came back): 2,000 simulated boxes (500 under the race
// detector), each speaking the
// box's protocol with its own credentials, connect in one burst to the
// embedded broker. Every one shows online within surgeOnline, the broker
// drops nothing on the way to the service (its undelivered metric reads
// 0), and every event each box recorded is acknowledged and stored
// exactly once.
func TestConnectSurge(t *testing.T) {
	n := surgeBoxes()
	dir := t.TempDir()
	boxes := registerSim(t, dir, n)
	const token = "surge-metrics-token"
	t.Setenv(config.EnvAdminPassword, adminPassword)
	cfg := testConfig(dir)
	cfg.Metrics.Token = token
	r := launchLogging(t, cfg, slog.LevelWarn)
	r.login(t, "admin", adminPassword)

	sim, err := fleetsim.New(fleetsim.Config{
		BrokerURL: "tcp://" + r.mqtt, Boxes: boxes, TownshipKey: townshipKey(t, dir),
		Backlog: 4, // each box comes back with a few events recorded while away
	}, fleetsim.Deps{Logger: testenv.Logger(t, slog.LevelWarn)})
	if err != nil {
		t.Fatal(err)
	}
	burst := time.Now()
	run := testenv.Background(t, wait, "the simulated fleet", sim.Run)

	online := func() int {
		var list []struct {
			Online bool `json:"online"`
		}
		r.api(t, "GET", "/api/v1/boxes", "", &list, 200)
		c := 0
		for _, b := range list {
			if b.Online {
				c++
			}
		}
		return c
	}
	// The list of every box is read only once the fleet says all are
	// connected, and then a few times a second: reading it costs what
	// the surge needs.
	for on := 0; on != n; {
		if sim.Stats().Online == n {
			on = online()
		}
		if on != n && time.Since(burst) > surgeOnline {
			t.Fatalf("%d of %d boxes shown online %s after the burst; the fleet: %+v", online(), n, surgeOnline, sim.Stats())
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("%d boxes shown online %s after the burst; %+v", n, time.Since(burst).Round(time.Millisecond), sim.Stats())

	waitFor(t, "every recorded event acknowledged", func() bool { s := sim.Stats(); return s.Pending == 0 && s.Recorded == uint64(n*5) })
	t.Logf("all acknowledged %s after the burst; %+v", time.Since(burst).Round(time.Millisecond), sim.Stats())

	fams := promtest.Scrape(t, "http://"+r.http+"/metrics", token)
	if v, ok := promtest.Value(fams, "dalaba_cloud_broker_undelivered_total", nil); !ok || v != 0 {
		t.Errorf("broker_undelivered_total = %v (served %v), want 0", v, ok)
	}
	if v, ok := promtest.Value(fams, "dalaba_cloud_broker_connects_total", map[string]string{"outcome": "refused_busy"}); !ok || v != 0 {
		t.Errorf("connects refused busy = %v (served %v), want 0: the default pacing queues a burst of %d", v, ok, n)
	}
	paced, _ := promtest.Value(fams, "dalaba_cloud_broker_connects_total", map[string]string{"outcome": "paced"})
	t.Logf("connects paced: %v", paced)
	if s := sim.Stats(); s.ConnectFails != 0 || s.Lost != 0 || s.Connects != uint64(n) {
		t.Errorf("fleet %+v: want %d connects, none failed or lost", s, n)
	}
	states := sim.Boxes()
	if err := run.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}

	st, err := openBolt(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	for _, b := range states {
		count, err := st.CountEvents(ctx, b.ID)
		if err != nil {
			t.Fatal(err)
		}
		sb, err := st.GetBox(ctx, b.ID)
		if err != nil {
			t.Fatal(err)
		}
		if count != b.Recorded || sb.Watermark != b.Recorded || b.Acked != b.Recorded || sb.Epoch != b.Epoch {
			t.Errorf("%s recorded %d, acked through %d (epoch %s); the township holds %d events, watermark %d (epoch %s)",
				b.ID, b.Recorded, b.Acked, b.Epoch, count, sb.Watermark, sb.Epoch)
		}
	}
}
