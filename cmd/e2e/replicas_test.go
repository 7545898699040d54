package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pion/webrtc/v4"
	"gopkg.in/yaml.v3"

	"github.com/dalaba/dalaba/cloud/store/pgstore/pgtest"
	"github.com/dalaba/dalaba/cmd/dalaba-sim/fleetsim"
	"github.com/dalaba/dalaba/internal/testenv"
	"github.com/dalaba/dalaba/protocol"
)

// A county runs three replicas of the township service on one PostgreSQL
// and one Mosquitto, with 500 simulated boxes and a real dalaba-edge with
// a camera. The replica holding the periodic jobs' lease is killed with
// SIGKILL while events pour in, and another while an official's WebRTC
// offer is on its way to the camera's box: no event is lost or stored
// twice, another replica takes the lease, the offer fails cleanly and a
// new one through the last replica plays, and that replica's console
// still follows the fleet live.
func TestThreeReplicasSurviveSIGKILL(t *testing.T) {
	const simBoxes = 500
	began := time.Now()
	phase := func(what string) { t.Logf("%5.1fs %s", time.Since(began).Seconds(), what) }
	mq := testenv.PrivateMosquitto(t)
	dsn := pgtest.New(t).Fresh(t)
	cam := startCamera(t)
	shared := t.TempDir() // the data_dir the replicas share (the township key)
	config := fmt.Sprintf(`mqtt:
  embedded: false
  url: tcp://%[1]s
  public_url: tcp://%[1]s
  client_id: %[2]s
store:
  kind: postgres
  dsn: %[3]s
cluster:
  share_group: %[4]s
cameras:
  allow_local_targets: true
`, mq, uniqueID("e2e_cloud"), dsn, uniqueID("county"))
	var rs [3]*cloud
	for i := range rs {
		rs[i] = startCloud(t, cloudOpts{dataDir: shared, config: config, replica: fmt.Sprintf("r%d", i+1)})
	}
	// The first replica took the lease: the others were started after it.
	eventually(t, 15*time.Second, "r1 holds the periodic jobs' lease", func() bool { return logSays(rs[0].proc, "lease taken") })

	phase("three replicas up")

	// The boxes are registered through every replica.
	prefix := uniqueID("sim")
	boxes, key := registerMany(t, rs[:], prefix, simBoxes)

	phase("boxes registered")
	edgeID := uniqueID("cam")
	e := startEdge(t, writeEdgeConfig(t, rs[1].addBox(t, edgeID)), t.TempDir())
	var put struct {
		DesiredRev uint64 `json:"desired_rev"`
	}
	rs[2].do(t, "PUT", "/api/v1/boxes/"+edgeID+"/cameras/gate", protocol.Camera{ID: "gate", Name: "村口", URL: cam.URL()}, &put, http.StatusOK)
	eventually(t, 20*time.Second, "the real box applies its camera", func() bool { return rs[0].box(t, edgeID).AppliedRev == put.DesiredRev })

	// The simulated boxes connect in one burst (time ×10: a health report
	// every 6 s) and each records an event a second besides a backlog.
	fl, err := fleetsim.New(fleetsim.Config{BrokerURL: "tcp://" + mq, Boxes: boxes, TownshipKey: key, Compress: 10,
		Backlog: 20, EventsPerHour: 360}, fleetsim.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	fctx, stopFleet := context.WithCancel(context.Background())
	var fleetErr error
	fleetDone := make(chan struct{})
	go func() { fleetErr = fl.Run(fctx); close(fleetDone) }()
	t.Cleanup(func() { stopFleet(); <-fleetDone })
	eventually(t, 30*time.Second, "every simulated box online at the township", func() bool {
		return countOnline(t, rs[2], prefix) == simBoxes
	})

	phase("every box online")

	// r1, the lease holder, is killed while events pour in, from the
	// simulated boxes and from the real one.
	var edgeAcked seqSet
	edgeLoad := make(chan error, 1)
	go func() { edgeLoad <- appendLoad(e, 3000, 50, 2, &edgeAcked, "test.replicas") }()
	eventually(t, 20*time.Second, "events being acknowledged", func() bool { return fl.Stats().Acked > 10*simBoxes && edgeAcked.len() > 0 })
	rs[0].kill()
	before := fl.Boxes() // what each box had recorded when r1 died
	if err := <-edgeLoad; err != nil {
		t.Fatalf("the real box's events: %v", err)
	}
	eventually(t, 20*time.Second, "another replica takes the lease", func() bool {
		return logSays(rs[1].proc, "lease taken") || logSays(rs[2].proc, "lease taken")
	})
	eventually(t, 60*time.Second, "every event recorded before r1 died acknowledged after", func() bool {
		now := fl.Boxes()
		for i, b := range before {
			if now[i].Acked < b.Recorded {
				return false
			}
		}
		return true
	})

	phase("r1 killed, its work taken over")

	// r3 is killed with an offer on its way to the box: the request ends
	// (answered, or cut) rather than hanging; through r2 the camera plays.
	_, offer := newBrowser(t)
	offered := make(chan error, 1)
	go func() { offered <- postOffer(rs[2], edgeID, "gate", offer) }()
	eventually(t, 10*time.Second, "the box takes the offer", func() bool { return logSays(e.proc, protocol.CmdWHEP) || len(offered) > 0 })
	rs[2].kill()
	select {
	case err := <-offered:
		t.Logf("the offer through the killed replica: %v", err)
	case <-time.After(15 * time.Second):
		t.Fatal("the offer through the killed replica hangs")
	}
	viewer, offer := newBrowser(t)
	viewer.watch(t, rs[1], edgeID, "gate", offer)
	eventually(t, 20*time.Second, "the viewer through r2 receives keyframes", func() bool {
		aus, idrs, _ := viewer.keyframes()
		return aus >= 25 && idrs >= 1
	})

	phase("r3 killed, the camera plays through r2")

	// The real box uploads all it took while replicas died.
	eventually(t, 90*time.Second, "the real box's events all at the township", func() bool {
		n := 0
		for _, ev := range rs[1].events(t, edgeID) {
			if ev.Type == "test.replicas" {
				n++
			}
		}
		return n >= edgeAcked.len()
	})

	phase("the real box uploaded all")

	// r2's console follows the fleet live: the real box, killed, turns up
	// among the offline boxes of its stream.
	stream := openBoxStream(t, rs[1], "online=false")
	first := stream.nextTotal(t)
	e.kill()
	stream.waitTotal(t, first+1, "the real box among the offline boxes on r2's console after it died")

	phase("the console followed")

	// Nothing lost, nothing twice. The simulated boxes stop; each box's
	// events are stored in one incarnation, every seq it deleted on an
	// ack among them, none it never recorded. (Above its last ack there
	// may be gaps: batches taken by different replicas are stored out of
	// order, and the box still holds what no ack vouched for.)
	stopFleet()
	<-fleetDone
	if fleetErr != nil {
		t.Fatal(fleetErr)
	}
	final := fl.Boxes()
	stored := storedEvents(t, dsn, final)
	for _, b := range final {
		s, ok := stored[b.ID]
		if !ok || s.acked != b.Acked || s.minSeq != 1 || s.incarnations != 1 || s.maxSeq > b.Recorded {
			t.Fatalf("box %s: stored %+v (acked: the seqs through its ack); it deleted seqs 1-%d on acks and recorded %d: want them all, once, in one incarnation",
				b.ID, s, b.Acked, b.Recorded)
		}
	}
	checkAllOnce(t, rs[1].events(t, edgeID), &edgeAcked)
}

// logSays reports whether p's log holds s.
func logSays(p *proc, s string) bool {
	b, err := os.ReadFile(p.log)
	return err == nil && bytes.Contains(b, []byte(s))
}

// registerMany registers n boxes named prefix-0001 ... through the
// replicas in turn and returns their credentials and the township key.
func registerMany(t *testing.T, rs []*cloud, prefix string, n int) ([]fleetsim.Box, []byte) {
	t.Helper()
	boxes := make([]fleetsim.Box, n)
	keys := make([]string, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	next := make(chan int, n)
	for i := range n {
		next <- i
	}
	close(next)
	for w := range 6 {
		wg.Go(func() {
			c := rs[w%len(rs)]
			for i := range next {
				id := fmt.Sprintf("%s-%04d", prefix, i)
				var out struct {
					EdgeConfig string `json:"edge_config"`
				}
				if err := c.call("POST", "/api/v1/boxes", map[string]string{"id": id, "name": "模拟村 " + id}, &out, http.StatusCreated); err != nil {
					errs <- err
					return
				}
				var cfg struct {
					TownshipKey string `yaml:"township_key"`
					Broker      struct {
						Password string `yaml:"password"`
					} `yaml:"broker"`
				}
				if err := yaml.Unmarshal([]byte(out.EdgeConfig), &cfg); err != nil {
					errs <- fmt.Errorf("edge config of %s: %w", id, err)
					return
				}
				boxes[i], keys[i] = fleetsim.Box{ID: id, Password: cfg.Broker.Password}, cfg.TownshipKey
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if k != keys[0] {
			t.Fatalf("replicas gave boxes different township keys: %s and %s", keys[0], k)
		}
	}
	key, err := protocol.ParsePublicKey(keys[0])
	if err != nil {
		t.Fatal(err)
	}
	return boxes, key
}

// countOnline counts the boxes whose id begins with prefix that c shows
// online.
func countOnline(t *testing.T, c *cloud, prefix string) int {
	t.Helper()
	var boxes []apiBox
	c.do(t, "GET", "/api/v1/boxes", nil, &boxes, http.StatusOK)
	n := 0
	for _, b := range boxes {
		if strings.HasPrefix(b.ID, prefix) && b.Online {
			n++
		}
	}
	return n
}

// postOffer posts a WHEP offer and reports how it ended: nil when
// answered, else what the official's browser would have seen.
func postOffer(c *cloud, box, cam, offer string) error {
	req, err := http.NewRequest("POST", "http://"+c.HTTP+"/api/v1/boxes/"+box+"/cameras/"+cam+"/whep", strings.NewReader(offer))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/sdp")
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("status %d: %s", resp.StatusCode, body)
	}
	if _, err := (&webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: string(body)}).Unmarshal(); err != nil {
		return fmt.Errorf("the answer is no SDP: %w", err)
	}
	return nil
}

// eventRange is what the store holds of one box's events.
type eventRange struct {
	count, acked, minSeq, maxSeq uint64
	incarnations                 int
}

// storedEvents reads, straight from the database, what is stored of the
// events of the boxes: acked counts the seqs through each box's Acked.
func storedEvents(t *testing.T, dsn string, boxes []fleetsim.BoxState) map[string]eventRange {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(t.Context())
	ids, acked := make([]string, len(boxes)), make([]int64, len(boxes))
	for i, b := range boxes {
		ids[i], acked[i] = b.ID, int64(b.Acked)
	}
	rows, err := conn.Query(t.Context(), `SELECT e.box_id, count(*), count(*) FILTER (WHERE e.seq <= a.acked), min(e.seq), max(e.seq),
		count(DISTINCT e.incarnation) FROM events e JOIN unnest($1::text[], $2::bigint[]) AS a(box_id, acked) USING (box_id)
		GROUP BY e.box_id`, ids, acked)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]eventRange{}
	for rows.Next() {
		var (
			id                 string
			n, through, lo, hi int64
			incarnations       int64
		)
		if err := rows.Scan(&id, &n, &through, &lo, &hi, &incarnations); err != nil {
			t.Fatal(err)
		}
		out[id] = eventRange{count: uint64(n), acked: uint64(through), minSeq: uint64(lo), maxSeq: uint64(hi), incarnations: int(incarnations)}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// boxStream is the console's live stream of a dashboard page.
type boxStream struct {
	totals chan int
}

// openBoxStream signs in to c's console with the API's session (the
// store keeps sessions, so any replica knows it) and follows the
// dashboard page query's stream until the test ends.
func openBoxStream(t *testing.T, c *cloud, query string) *boxStream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, "GET", "http://"+c.HTTP+"/events/boxes?"+query, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.AddCookie(&http.Cookie{Name: "dalaba_session", Value: c.token})
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		cancel()
		resp.Body.Close()
		t.Fatalf("the box stream: status %d", resp.StatusCode)
	}
	s := &boxStream{totals: make(chan int, 64)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(s.totals)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<24)
		summary := false
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "event: summary":
				summary = true
			case summary && strings.HasPrefix(line, "data: "):
				var sum struct {
					Total int `json:"total"`
				}
				if json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &sum) == nil {
					s.totals <- sum.Total
				}
				summary = false
			}
		}
	}()
	t.Cleanup(func() { cancel(); resp.Body.Close(); <-done })
	return s
}

// waitTotal waits for a summary whose total is want.
func (s *boxStream) waitTotal(t *testing.T, want int, what string) {
	t.Helper()
	deadline := time.After(45 * time.Second)
	last := -1
	for {
		select {
		case n, ok := <-s.totals:
			if !ok {
				t.Fatalf("%s: the box stream ended (last total %d)", what, last)
			}
			if n == want {
				return
			}
			last = n
		case <-deadline:
			t.Fatalf("%s: no total of %d within 45 s (last %d)", what, want, last)
		}
	}
}

// nextTotal waits for the stream's next summary.
func (s *boxStream) nextTotal(t *testing.T) int {
	t.Helper()
	select {
	case n, ok := <-s.totals:
		if !ok {
			t.Fatal("the box stream ended")
		}
		return n
	case <-time.After(45 * time.Second):
		t.Fatal("the box stream sent no summary within 45 s")
	}
	return 0
}
