package cloud

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/dalaba/dalaba/cloud/config"
	"github.com/dalaba/dalaba/cloud/fleet"
	"github.com/dalaba/dalaba/cloud/store"
	"github.com/dalaba/dalaba/cloud/store/pgstore"
	"github.com/dalaba/dalaba/cloud/store/pgstore/pgtest"
	"github.com/dalaba/dalaba/cmd/dalaba-sim/fleetsim"
	"github.com/dalaba/dalaba/internal/testenv"
)

// BenchmarkReplicasIngest: 1, 2 and 3 replicas on one PostgreSQL and the
// machine's Mosquitto take the backlog of n boxes (each connecting with
// its box.started and a backlog of events, in one burst). Reported: the
// events acknowledged per second from the burst until every box's outbox
// is empty (events/s), and the times boxes resent a batch for want of an
// ack (resends): with several replicas one box's batches are stored out
// of order, and an ack vouches only for what its batch showed, so the
// box waits and resends. All replicas, the boxes and the broker share
// this machine's cores, so the figure shows what replicas cost or save
// here, not on machines of their own.
func BenchmarkReplicasIngest(b *testing.B) {
	boxes, backlog := 500, 200
	if testenv.Race {
		boxes, backlog = 20, 20 // make test keeps it working; make bench measures
	}
	mq := testenv.PrivateMosquitto(b)
	db := pgtest.New(b)
	for _, n := range []int{1, 2, 3} {
		b.Run(fmt.Sprintf("replicas=%d", n), func(b *testing.B) {
			for range b.N {
				b.StopTimer()
				tag := randomTag(b)
				dsn := db.Fresh(b)
				sims := registerPG(b, dsn, "bench-"+tag, boxes)
				dir := b.TempDir()
				b.Setenv(config.EnvAdminPassword, adminPassword)
				var rs []*running
				for i := range n {
					cfg := testConfig(dir)
					cfg.MQTT.Embedded, cfg.MQTT.URL, cfg.MQTT.ClientID = false, "tcp://"+mq, "bench_cloud_"+tag
					cfg.Store = config.Store{Kind: config.StorePostgres, DSN: dsn}
					cfg.Cluster = config.Cluster{Replica: fmt.Sprintf("r%d", i+1), ShareGroup: "bench-" + tag}
					rs = append(rs, launchLogging(b, cfg, slog.LevelError))
				}
				sim, err := fleetsim.New(fleetsim.Config{BrokerURL: "tcp://" + mq, Boxes: sims, Backlog: backlog}, fleetsim.Deps{})
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				burst := time.Now()
				run := testenv.Background(b, time.Minute, "the simulated fleet", sim.Run)
				ctx, cancel := context.WithTimeout(b.Context(), 5*time.Minute)
				for s := sim.Stats(); s.Connects < uint64(boxes) || s.Pending > 0; s = sim.Stats() {
					if ctx.Err() != nil {
						b.Fatalf("not drained within 5 minutes: %+v", s)
					}
					time.Sleep(50 * time.Millisecond)
				}
				cancel()
				took := time.Since(burst)
				b.StopTimer()
				s := sim.Stats()
				b.ReportMetric(float64(s.Acked)/took.Seconds(), "events/s")
				b.ReportMetric(float64(s.Resends), "resends")
				b.ReportMetric(0, "ns/op")
				if err := run.Stop(); err != nil {
					b.Fatal(err)
				}
				for _, r := range rs {
					if err := r.stop(); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

func randomTag(t testing.TB) string {
	x := make([]byte, 4)
	if _, err := rand.Read(x); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(x)
}

// registerPG registers n simulated boxes in the PostgreSQL store at dsn.
func registerPG(t testing.TB, dsn, prefix string, n int) []fleetsim.Box {
	t.Helper()
	st, err := pgstore.Open(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	boxes := make([]fleetsim.Box, n)
	for i := range boxes {
		x := fleetsim.Box{ID: fmt.Sprintf("%s-%04d", prefix, i), Password: fmt.Sprintf("secret-%d", i)}
		if err := st.CreateBox(t.Context(), store.Box{ID: x.ID, Name: "模拟村 " + x.ID, SecretHash: fleet.SecretHash(x.Password), CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
		boxes[i] = x
	}
	return boxes
}
