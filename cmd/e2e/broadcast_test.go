package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
	_ "time/tzdata" // Asia/Shanghai whatever the machine has installed

	"github.com/dalaba/dalaba/devices/audio"
	"github.com/dalaba/dalaba/devices/speaker/speakersim"
	edgebox "github.com/dalaba/dalaba/edge"
	"github.com/dalaba/dalaba/edge/broadcast"
	"github.com/dalaba/dalaba/edge/clock/clocktest"
	"github.com/dalaba/dalaba/edge/config"
	"github.com/dalaba/dalaba/protocol"
)

// The township's broker is stopped for a simulated week: every scheduled
// playback still happens on the village's loudspeaker, at its instant, and
// the play log reaches the township once the broker is back.
//
// The township service runs as a real process with its embedded broker; the
// box runs in this process on a fake clock (a week of real time is not an
// option), driving a simulated RTP horn over loopback UDP in real time.
func TestWeekOfflineBroadcast(t *testing.T) {
	shanghai, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	// The box's week starts at 06:00 tomorrow, Beijing time, rather than
	// at a fixed date: the township signs desired states valid for 30
	// days of its real clock, and a box whose clock is further ahead
	// than that rightly refuses them as expired.
	now := time.Now().In(shanghai)
	start := time.Date(now.Year(), now.Month(), now.Day()+1, 6, 0, 0, 0, shanghai)
	var occurrences []time.Time
	for day := range 7 {
		for _, hm := range [][2]int{{7, 30}, {18, 0}} {
			occurrences = append(occurrences, time.Date(start.Year(), start.Month(), start.Day()+day, hm[0], hm[1], 0, 0, shanghai))
		}
	}

	// The township, on an MQTT port it gets back after the restart.
	mqttAddr := freePort(t)
	c := startCloud(t, cloudOpts{mqtt: mqttAddr})
	id := uniqueID("week")
	cfg := inProcessEdgeConfig(t, c.addBox(t, id))

	// The village: one horn, and the box on a fake clock.
	horn := startSpeakerSim(t)
	clk := clocktest.New(start)
	box := runEdge(t, cfg, clk)

	// The township plans the week: a half-second announcement at 07:30
	// and 18:00 every day on the square's horn.
	clip := c.upload(t, "早晚广播.wav", toneWAV(t, 440, 500*time.Millisecond))
	c.do(t, "PUT", "/api/v1/boxes/"+id+"/speakers/horn",
		protocol.Speaker{ID: "horn", Driver: protocol.DriverRTP, Addr: horn.Addr().String()}, nil, http.StatusOK)
	c.do(t, "PUT", "/api/v1/boxes/"+id+"/zones/square",
		map[string]any{"id": "square", "speakers": []string{"horn"}}, nil, http.StatusOK)
	var plan struct {
		DesiredRev uint64 `json:"desired_rev"`
	}
	c.do(t, "PUT", "/api/v1/boxes/"+id+"/schedules/morning", map[string]any{
		"id": "morning", "name": "早晚广播", "media": []string{clip}, "zones": []string{"square"},
		"rule": map[string]any{"at": []string{"07:30", "18:00"}}, "no_chime": true,
	}, &plan, http.StatusOK)
	if plan.DesiredRev == 0 {
		t.Fatal("PUT schedule: no desired_rev in the answer")
	}
	eventually(t, 15*time.Second, fmt.Sprintf("box applies desired rev %d", plan.DesiredRev), func() bool {
		return c.box(t, id).AppliedRev == plan.DesiredRev
	})
	// The clip must be on the box before the link goes: that is the whole
	// point of fetching ahead. Its file also shows the playout has taken
	// the schedule (it fetches only after handing it to the scheduler).
	cached := filepath.Join(cfg.DataDir, "media", clip[:2], clip)
	eventually(t, 15*time.Second, "box caches the clip at "+cached, func() bool {
		_, err := os.Stat(cached)
		return err == nil
	})

	// The broker goes, with the township service.
	c.stop()
	eventually(t, 10*time.Second, "box notices the uplink is gone", func() bool { return !box.connected(t) })

	// A week on the box's clock: the clock jumps to each instant, as a
	// real one reaches it, and the horn must sound each time.
	for i, at := range occurrences {
		clk.Set(at)
		waitSpurts(t, horn, clk, i+1, at)
	}
	if got := horn.Stats().Spurts; got != len(occurrences) {
		t.Fatalf("the horn heard %d announcements during the week, want %d", got, len(occurrences))
	}

	// The township comes back on the same data and the same broker port.
	// The box's reconnect backoff runs on its (fake) clock, so the clock
	// moves on a few seconds at a time until the box is back.
	c = startCloud(t, cloudOpts{dataDir: c.dataDir, mqtt: mqttAddr})
	deadline := time.Now().Add(30 * time.Second)
	for !box.connected(t) {
		if time.Now().After(deadline) {
			t.Fatal("box did not reconnect within 30 s of the township's restart")
		}
		clk.Advance(5 * time.Second)
		time.Sleep(50 * time.Millisecond)
	}

	// The play log arrives: one "played" entry per instant of the week,
	// on the horn, and no instant given up as late. The clock keeps
	// moving meanwhile, so that an ack timeout on the box can fire.
	var played []protocol.PlayLog
	var late []protocol.Skip
	eventually(t, 30*time.Second, fmt.Sprintf("%d broadcast.played events at the township", len(occurrences)), func() bool {
		clk.Advance(time.Second)
		played, late = playLog(t, c.events(t, id))
		return len(played) >= len(occurrences)
	})
	if len(late) > 0 {
		t.Errorf("the box recorded late skips during the week: %+v", late)
	}
	if len(played) != len(occurrences) {
		t.Fatalf("%d broadcast.played events stored, want exactly %d: %+v", len(played), len(occurrences), played)
	}
	seen := map[time.Time]bool{}
	for _, l := range played {
		at := l.ScheduledAt.In(shanghai)
		if seen[at] {
			t.Errorf("occurrence %s logged twice", at)
		}
		seen[at] = true
		if !slices.ContainsFunc(occurrences, at.Equal) {
			t.Errorf("play log entry for %s, which is not an instant of the schedule", at)
		}
		if l.Result != broadcast.ResultPlayed || l.ScheduleID != "morning" || !slices.Equal(l.Speakers, []string{"horn"}) {
			t.Errorf("play log entry for %s: result %q, schedule %q, speakers %v; want played, morning, [horn] (errors: %v)",
				at, l.Result, l.ScheduleID, l.Speakers, l.Errors)
		}
	}
	for _, at := range occurrences {
		if !seen[at] {
			t.Errorf("no play log entry for %s", at)
		}
	}
}

// inProcessEdgeConfig turns the edge YAML the township hands out for a box
// into the config of a box run in this process: its own data directory,
// and health readings hourly so that a week on the fake clock does not
// fill the outbox with ten thousand of them.
func inProcessEdgeConfig(t testing.TB, yaml string) config.Config {
	t.Helper()
	cfg, err := config.Load(writeEdgeConfig(t, yaml))
	if err != nil {
		t.Fatalf("loading the edge config the township handed out: %v", err)
	}
	cfg.DataDir = t.TempDir()
	cfg.LocalAPI = "" // beside the bbolt file, in the test's own directory
	cfg.HealthInterval = time.Hour
	if cfg.Media.URL == "" {
		t.Fatalf("edge config has no media.url: the box could not fetch clips:\n%s", yaml)
	}
	return cfg
}

// inProcessEdge is a dalaba-edge running in the test process.
type inProcessEdge struct {
	client *http.Client
}

// runEdge runs a box in this process on clk until the test ends.
func runEdge(t *testing.T, cfg config.Config, clk *clocktest.Clock) *inProcessEdge {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo}))
	e, err := edgebox.New(cfg, edgebox.Deps{Clock: clk, Logger: logger, Version: "e2e"})
	if err != nil {
		t.Fatalf("edge.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("edge stopped with: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Errorf("edge did not stop within 20 s of its context ending")
		}
	})
	sock := cfg.SocketPath()
	box := &inProcessEdge{client: &http.Client{
		Timeout: 5 * time.Second,
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		}},
	}}
	eventually(t, 10*time.Second, "in-process edge's local API answers", func() bool {
		select {
		case err := <-done:
			t.Fatalf("edge stopped at start: %v", err)
		default:
		}
		_, err := box.status()
		return err == nil
	})
	return box
}

type edgeStatus struct {
	Connected  bool   `json:"connected"`
	AppliedRev uint64 `json:"applied_rev"`
}

func (e *inProcessEdge) status() (edgeStatus, error) {
	var s edgeStatus
	resp, err := e.client.Get("http://edge/v1/status")
	if err != nil {
		return s, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return s, fmt.Errorf("GET /v1/status: status %d: %s", resp.StatusCode, b)
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("GET /v1/status: decode %s: %w", b, err)
	}
	return s, nil
}

// connected is whether the box's uplink holds an MQTT session now.
func (e *inProcessEdge) connected(t testing.TB) bool {
	t.Helper()
	s, err := e.status()
	if err != nil {
		t.Fatalf("box status: %v", err)
	}
	return s.Connected
}

// startSpeakerSim runs a simulated RTP horn on loopback until the test ends.
func startSpeakerSim(t *testing.T) *speakersim.Sim {
	t.Helper()
	s, err := speakersim.New(speakersim.Config{Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatalf("speaker simulator: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("speaker simulator: %v", err)
		}
	})
	return s
}

// waitSpurts waits until the horn has heard n announcements through to
// their end. The scheduler sleeps at most a minute of the box's clock at a
// time; should its timer have been armed just after the jump to at (and so
// be due a minute past it), the clock is nudged on by 30 s twice, still
// within the box's 2-minute grace, before giving up.
func waitSpurts(t *testing.T, horn *speakersim.Sim, clk *clocktest.Clock, n int, at time.Time) {
	t.Helper()
	for nudge := 0; ; nudge++ {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := horn.Wait(ctx, func(st speakersim.Stats, _ int) bool { return st.Ended >= n })
		cancel()
		if err == nil {
			if nudge > 0 {
				t.Logf("occurrence %s played after nudging the clock %d times", at, nudge)
			}
			return
		}
		if nudge == 2 {
			st := horn.Stats()
			t.Fatalf("occurrence %d (%s): the horn heard %d announcements (%d ended), want %d", n, at, st.Spurts, st.Ended, n)
		}
		clk.Advance(30 * time.Second)
	}
}

// playLog picks the scheduled playbacks and the late skips out of a box's
// stored events.
func playLog(t *testing.T, evs []apiEvent) (played []protocol.PlayLog, late []protocol.Skip) {
	t.Helper()
	for _, ev := range evs {
		switch ev.Type {
		case protocol.EventPlayed:
			var l protocol.PlayLog
			if err := json.Unmarshal(ev.Data, &l); err != nil {
				t.Fatalf("event %d %s: %v: %s", ev.Seq, ev.Type, err, ev.Data)
			}
			played = append(played, l)
		case protocol.EventSkipped:
			var s protocol.Skip
			if err := json.Unmarshal(ev.Data, &s); err != nil {
				t.Fatalf("event %d %s: %v: %s", ev.Seq, ev.Type, err, ev.Data)
			}
			if s.Reason == broadcast.SkipLate {
				late = append(late, s)
			}
		}
	}
	return played, late
}

// toneWAV is a sine tone as a mono 8 kHz WAV file.
func toneWAV(t *testing.T, hz float64, d time.Duration) []byte {
	t.Helper()
	const rate = 8000
	p := audio.PCM{Rate: rate, Channels: 1, Samples: make([]int16, int(d*rate/time.Second))}
	for i := range p.Samples {
		p.Samples[i] = int16(8000 * math.Sin(2*math.Pi*hz*float64(i)/rate))
	}
	var b bytes.Buffer
	if err := audio.EncodeWAV(&b, p); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// upload posts a clip to the township's media library as the raw body and
// returns its sha256.
func (c *cloud) upload(t *testing.T, name string, wav []byte) string {
	t.Helper()
	req, err := http.NewRequest("POST", "http://"+c.HTTP+"/api/v1/media?name="+url.QueryEscape(name), bytes.NewReader(wav))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "audio/wav")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("upload %s: %v", name, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m struct {
		SHA256 string `json:"sha256"`
	}
	if resp.StatusCode != http.StatusCreated || json.Unmarshal(b, &m) != nil || len(m.SHA256) != 64 {
		t.Fatalf("upload %s: status %d: %s", name, resp.StatusCode, b)
	}
	return m.SHA256
}
