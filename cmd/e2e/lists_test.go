package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	stdpng "image/png"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dalaba/dalaba/cloud/notify"
	"github.com/dalaba/dalaba/cloud/notify/notifytest"
	"github.com/dalaba/dalaba/devices/audio"
	"github.com/dalaba/dalaba/devices/speaker/speakersim"
	edgebox "github.com/dalaba/dalaba/edge"
	"github.com/dalaba/dalaba/edge/clock/clocktest"
	"github.com/dalaba/dalaba/edge/config"
	"github.com/dalaba/dalaba/internal/testenv"
	"github.com/dalaba/dalaba/protocol"
)

// The township's people in the lists test, by role.
var listsUsers = map[string]string{"会计": "operator", "李评委": "reviewer", "王评委": "reviewer"}

const listsPassword = "e2e-lists-password"

// addUsers creates the lists' users, and the admin the harness logs in as
// (made by the service only when it starts with no users), with the
// service stopped, as an installer would.
func addUsers(t testing.TB, dataDir string) {
	t.Helper()
	users := map[string]string{"admin": "admin"}
	for name, role := range listsUsers {
		users[name] = role
	}
	for name, role := range users {
		pass := listsPassword
		if name == "admin" {
			pass = adminPassword
		}
		cmd := exec.Command(bins.cloud, "user", "add", name, "--role", role, "--data-dir", dataDir)
		cmd.Stdin = strings.NewReader(pass + "\n")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("dalaba-cloud user add %s: %v\n%s", name, err, out)
		}
	}
}

// as is the township service as seen by one user.
func (c *cloud) as(t testing.TB, user string) *cloud {
	t.Helper()
	var login struct{ Token string }
	c.do(t, "POST", "/api/v1/login", map[string]string{"username": user, "password": listsPassword}, &login, http.StatusOK)
	u := *c
	u.token = login.Token
	return &u
}

// stoppableEdge runs a box in this process until stop is called.
func stoppableEdge(t testing.TB, cfg config.Config, clk *clocktest.Clock) (box *inProcessEdge, stop func()) {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo}))
	e, err := edgebox.New(cfg, edgebox.Deps{Clock: clk, Logger: logger, Version: "e2e"})
	if err != nil {
		t.Fatalf("edge.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("edge stopped with: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Errorf("edge did not stop within 20 s of its context ending")
		}
	}
	t.Cleanup(stop)
	sock := cfg.SocketPath()
	box = &inProcessEdge{client: &http.Client{
		Timeout: 5 * time.Second,
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		}},
	}}
	eventually(t, 10*time.Second, "in-process edge's local API answers", func() bool {
		_, err := box.status()
		return err == nil
	})
	return box, stop
}

// waitAnnouncement waits until the horn has heard the n-th announcement,
// of length d, through to its end: it must start within a few seconds
// (nudging the clock as waitSpurts does), then plays in real time.
func waitAnnouncement(t *testing.T, horn *speakersim.Sim, clk *clocktest.Clock, n int, at time.Time, d time.Duration) {
	t.Helper()
	started := false
	for nudge := 0; nudge < 3 && !started; nudge++ {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		started = horn.Wait(ctx, func(st speakersim.Stats, _ int) bool { return st.Spurts >= n }) == nil
		cancel()
		if !started {
			clk.Advance(30 * time.Second)
		}
	}
	if !started {
		t.Fatalf("announcement %d (%s) did not start: horn stats %+v", n, at, horn.Stats())
	}
	ctx, cancel := context.WithTimeout(context.Background(), d+10*time.Second)
	defer cancel()
	if err := horn.Wait(ctx, func(st speakersim.Stats, _ int) bool { return st.Ended >= n }); err != nil {
		t.Fatalf("announcement %d (%s) did not end within %v: horn stats %+v", n, at, d+10*time.Second, horn.Stats())
	}
}

// lastSeq is the seq of the newest event in the box's outbox.
func lastSeq(t testing.TB, box *inProcessEdge) uint64 {
	t.Helper()
	var st struct {
		Outbox struct {
			LastSeq uint64 `json:"last_seq"`
		} `json:"outbox"`
	}
	resp, err := box.client.Get("http://edge/v1/status")
	if err != nil {
		t.Fatalf("box status: %v", err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatalf("box status: %v", err)
	}
	return st.Outbox.LastSeq
}

// heardSince is what the horn heard after its first skip samples.
func heardSince(h *speakersim.Sim, skip int) audio.PCM {
	p := h.Audio()
	p.Samples = p.Samples[min(skip, len(p.Samples)):]
	return p
}

func rms(s []int16) float64 {
	if len(s) == 0 {
		return 0
	}
	var sum float64
	for _, v := range s {
		sum += float64(v) * float64(v)
	}
	return math.Sqrt(sum / float64(len(s)))
}

type apiClip struct {
	SHA256     string `json:"sha256"`
	DurationMS int64  `json:"duration_ms"`
}

// listClip is the clip the box's desired plan schedules for period's list.
func listClip(t testing.TB, c *cloud, box, period string) apiClip {
	t.Helper()
	var plan struct {
		Broadcast protocol.Broadcast `json:"broadcast"`
	}
	c.do(t, "GET", "/api/v1/boxes/"+box+"/broadcast", nil, &plan, http.StatusOK)
	for _, s := range plan.Broadcast.Schedules {
		if s.ID == "list-"+period && len(s.Media) == 1 {
			var clip apiClip
			var all []apiClip
			c.do(t, "GET", "/api/v1/media", nil, &all, http.StatusOK)
			for _, m := range all {
				if m.SHA256 == s.Media[0] {
					clip = m
				}
			}
			if clip.SHA256 == "" {
				t.Fatalf("scheduled list clip %s is not in the media library", s.Media[0])
			}
			return clip
		}
	}
	t.Fatalf("no list-%s schedule in %s's plan: %+v", period, box, plan.Broadcast.Schedules)
	return apiClip{}
}

// The 红黑榜 from the township desk to the village loudspeaker, over a
// real broker: entries written, approved by two reviewers and published
// are spoken at the box's next scheduled time, and posted to the village's
// group chats (a chat that keeps failing is tried again and reported, and
// holds nothing up); a black entry revoked while
// the box is off is gone from its cache and schedule before the next play,
// which says the list without it; a box out of touch for longer than the
// list window skips list announcements, saying why, while a policy
// announcement still plays.
func TestListsFromDeskToLoudspeaker(t *testing.T) {
	testenv.Tool(t, "espeak-ng", "apt-get install espeak-ng")
	shanghai, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().In(shanghai)
	period := now.Format("2006-01")
	// The list plays at 08:00 and 18:00 for 7 days from today; the box
	// lives from 07:59 tomorrow.
	day := func(d, h, m int) time.Time {
		return time.Date(now.Year(), now.Month(), now.Day()+d, h, m, 0, 0, shanghai)
	}

	dataDir, mqttAddr := t.TempDir(), freePort(t)
	addUsers(t, dataDir)
	// Spoken fast: the horn plays in real time, and the test need not
	// wait a minute per announcement.
	// No public notice: this test is about the loudspeaker. Group chat
	// posts are tried again after a second.
	fast := "tts:\n  espeak:\n    speed: 420\nlists:\n  notice_days: 0\n  chats:\n    first_retry: 1s\n    max_retry: 2s\n"
	c := startCloud(t, cloudOpts{dataDir: dataDir, mqtt: mqttAddr, config: fast})
	id := uniqueID("lists")
	cfg := inProcessEdgeConfig(t, c.addBox(t, id))
	horn := startSpeakerSim(t)
	clk := clocktest.New(day(1, 7, 59))
	box, stopBox := stoppableEdge(t, cfg, clk)

	c.do(t, "PUT", "/api/v1/boxes/"+id+"/speakers/horn",
		protocol.Speaker{ID: "horn", Driver: protocol.DriverRTP, Addr: horn.Addr().String()}, nil, http.StatusOK)
	c.do(t, "PUT", "/api/v1/boxes/"+id+"/zones/square", map[string]any{"id": "square", "speakers": []string{"horn"}}, nil, http.StatusOK)

	// The desk: two households, a red and a black entry.
	clerk, rev1, rev2 := c.as(t, "会计"), c.as(t, "李评委"), c.as(t, "王评委")
	v := "/api/v1/villages/" + id
	clerk.do(t, "POST", v+"/households", map[string]string{"id": "h01", "head": "张大山"}, nil, http.StatusCreated)
	clerk.do(t, "POST", v+"/households", map[string]string{"id": "h02", "head": "李秀英"}, nil, http.StatusCreated)
	clerk.do(t, "POST", v+"/persons", map[string]string{"id": "p1", "name": "张小明", "household": "h01"}, nil, http.StatusCreated)
	var red, black struct{ ID uint64 }
	clerk.do(t, "POST", v+"/entries", map[string]any{"kind": "red", "subject": map[string]string{"kind": "person", "id": "p1"},
		"category": "孝老爱亲", "reason": "悉心照料瘫痪的奶奶十年", "period": period}, &red, http.StatusCreated)
	clerk.do(t, "POST", v+"/entries", map[string]any{"kind": "black", "subject": map[string]string{"kind": "household", "id": "h02"},
		"category": "人居环境整治", "reason": "门前乱堆柴草占用道路", "period": period}, &black, http.StatusCreated)
	for _, e := range []uint64{red.ID, black.ID} {
		clerk.do(t, "POST", fmt.Sprintf("/api/v1/entries/%d/submit", e), nil, nil, http.StatusOK)
		clerk.do(t, "POST", fmt.Sprintf("/api/v1/entries/%d/approve", e), nil, nil, http.StatusForbidden) // not a reviewer, and the author
		rev1.do(t, "POST", fmt.Sprintf("/api/v1/entries/%d/approve", e), nil, nil, http.StatusOK)
		rev2.do(t, "POST", fmt.Sprintf("/api/v1/entries/%d/approve", e), nil, nil, http.StatusOK)
	}
	// The village's grid heads' group chats: WeCom and DingTalk take the
	// posts, the webhook fails every time.
	chats := notifytest.New(t, nil)
	chats.FailNext(notify.KindWebhook, 1000, http.StatusInternalServerError, 0)
	var chatList []map[string]any
	for _, k := range []notify.Kind{notify.KindWeCom, notify.KindDingTalk, notify.KindWebhook} {
		ch := chats.Channel(k)
		chatList = append(chatList, map[string]any{"id": "grid-" + string(k), "kind": k, "url": ch.URL, "secret": ch.Secret})
	}
	clerk.do(t, "PUT", v+"/chats", map[string]any{"chats": chatList}, nil, http.StatusOK)
	clerk.do(t, "POST", v+"/lists/"+period+"/publish", nil, nil, http.StatusOK)

	first := listClip(t, c, id, period)
	cached := func(sha string) bool {
		_, err := os.Stat(filepath.Join(cfg.DataDir, "media", sha[:2], sha))
		return err == nil
	}
	eventually(t, 20*time.Second, "box caches the spoken list", func() bool { return cached(first.SHA256) })

	// 08:00 tomorrow: the list is said on the horn, chime first.
	clk.Set(day(1, 8, 0))
	waitAnnouncement(t, horn, clk, 1, day(1, 8, 0), time.Duration(first.DurationMS)*time.Millisecond)
	heard := horn.Audio()
	chime := audio.Chime(8000).Duration()
	if d, want := heard.Duration(), chime+time.Duration(first.DurationMS)*time.Millisecond; d < want-300*time.Millisecond || d > want+300*time.Millisecond {
		t.Fatalf("the horn heard %v, want the chime and the %d ms list (%v)", d, first.DurationMS, want)
	}
	// Speech, not silence: two short entries take several seconds.
	if first.DurationMS < 4000 || rms(heardSince(horn, int(chime*8000/time.Second)).Samples) < 300 {
		t.Fatalf("the list is %d ms with level %.0f: no speech", first.DurationMS, rms(heard.Samples))
	}
	skip := len(heard.Samples)
	checkChatPosts(t, c, clerk, id, chats)

	// The box goes off; meanwhile 李秀英户 rectifies and the entry is revoked.
	stopBox()
	clerk.do(t, "POST", fmt.Sprintf("/api/v1/entries/%d/revoke", black.ID), map[string]string{"note": "已清理门前柴草，经村委复查合格"}, nil, http.StatusForbidden)
	rev1.do(t, "POST", fmt.Sprintf("/api/v1/entries/%d/revoke", black.ID), map[string]string{"note": "已清理门前柴草，经村委复查合格"}, nil, http.StatusOK)
	second := listClip(t, c, id, period)
	if second.SHA256 == first.SHA256 || second.DurationMS >= first.DurationMS {
		t.Fatalf("after the revocation the list clip is %+v, before %+v: want a new, shorter one", second, first)
	}
	if !cached(first.SHA256) {
		t.Fatal("the old list left the box's cache while the box was off")
	}

	// The box is back at noon: the old audio goes before 18:00's play.
	clk.Set(day(1, 12, 0))
	box, stopBox = stoppableEdge(t, cfg, clk)
	eventually(t, 30*time.Second, "box reconnects, drops the revoked list and caches the new one", func() bool {
		clk.Advance(5 * time.Second)
		return !cached(first.SHA256) && cached(second.SHA256)
	})
	clk.Set(day(1, 18, 0))
	waitAnnouncement(t, horn, clk, 2, day(1, 18, 0), time.Duration(second.DurationMS)*time.Millisecond)
	if d, want := heardSince(horn, skip).Duration(), chime+time.Duration(second.DurationMS)*time.Millisecond; d < want-300*time.Millisecond || d > want+300*time.Millisecond {
		t.Fatalf("at 18:00 the horn heard %v, want the chime and the revised %d ms list (%v)", d, second.DurationMS, want)
	}

	// A policy announcement every morning at 09:00, then the township goes
	// away for four days: past the 72 h list window.
	policy := c.upload(t, "防火通知.wav", toneWAV(t, 440, 500*time.Millisecond))
	var plan struct {
		DesiredRev uint64 `json:"desired_rev"`
	}
	c.do(t, "PUT", "/api/v1/boxes/"+id+"/schedules/policy", map[string]any{"id": "policy", "media": []string{policy},
		"rule": map[string]any{"at": []string{"09:00"}}, "no_chime": true}, &plan, http.StatusOK)
	eventually(t, 20*time.Second, "box applies the policy schedule and caches its clip", func() bool {
		clk.Advance(time.Second)
		return c.box(t, id).AppliedRev == plan.DesiredRev && cached(policy)
	})
	c.stop()
	eventually(t, 10*time.Second, "box notices the uplink is gone", func() bool { return !box.connected(t) })
	offlineFrom := clk.Now()
	before := lastSeq(t, box)
	clk.Set(day(5, 8, 0)) // list time, 3.5 days later
	eventually(t, 10*time.Second, "the box handles 08:00 (records events)", func() bool { return lastSeq(t, box) > before })
	clk.Set(day(5, 9, 0)) // policy time
	waitSpurts(t, horn, clk, 3, day(5, 9, 0))
	if got := horn.Stats().Ended; got != 3 {
		t.Fatalf("the horn heard %d announcements, want 3 (the list skipped, the policy played)", got)
	}

	// Back online: the township learns why the list was not heard.
	c = startCloud(t, cloudOpts{dataDir: dataDir, mqtt: mqttAddr, config: fast})
	var unconfirmed []protocol.Skip
	var policyPlayed bool
	eventually(t, 30*time.Second, "the skip and the policy play reach the township", func() bool {
		clk.Advance(5 * time.Second)
		unconfirmed, policyPlayed = nil, false
		for _, ev := range c.events(t, id) {
			switch ev.Type {
			case protocol.EventSkipped:
				var s protocol.Skip
				if json.Unmarshal(ev.Data, &s) == nil && s.Reason == protocol.SkipListUnconfirmed {
					unconfirmed = append(unconfirmed, s)
				}
			case protocol.EventPlayed:
				var l protocol.PlayLog
				if json.Unmarshal(ev.Data, &l) == nil && l.ScheduleID == "policy" && l.ScheduledAt.Equal(day(5, 9, 0)) && l.Result == "played" {
					policyPlayed = true
				}
			}
		}
		return len(unconfirmed) > 0 && policyPlayed
	})
	if s := unconfirmed[0]; s.ScheduleID != "list-"+period || !s.At.Equal(day(5, 8, 0)) {
		t.Fatalf("list skip %+v (box offline since %s), want list-%s at %s", s, offlineFrom, period, day(5, 8, 0))
	}
	stopBox()
}

// checkChatPosts waits for the publication's posts to the group chats:
// WeCom got the text and a PNG poster that decodes, DingTalk the signed
// markdown linking the picture, which the township serves; names masked
// as the default privacy says; the failing webhook tried five times and
// reported failed.
func checkChatPosts(t *testing.T, c, clerk *cloud, village string, chats *notifytest.Receiver) {
	t.Helper()
	type post struct {
		Chat     string `json:"chat"`
		Status   string `json:"status"`
		Attempts int    `json:"attempts"`
		Error    string `json:"last_error"`
	}
	var posts []post
	eventually(t, 30*time.Second, "the posts to the group chats are settled", func() bool {
		posts = nil
		clerk.do(t, "GET", "/api/v1/villages/"+village+"/deliveries", nil, &posts, http.StatusOK)
		done := 0
		for _, p := range posts {
			if p.Status != "pending" {
				done++
			}
		}
		return len(posts) == 3 && done == 3
	})
	for _, p := range posts {
		want, attempts := "delivered", 1
		if p.Chat == "grid-webhook" {
			want, attempts = "failed", 5
		}
		if p.Status != want || p.Attempts != attempts {
			t.Errorf("post to %s: %s after %d attempts (%s), want %s after %d", p.Chat, p.Status, p.Attempts, p.Error, want, attempts)
		}
	}
	if r := chats.Refused(); len(r) != 0 {
		t.Fatalf("the chats refused requests: %q", r)
	}
	var text, png, link bool
	for _, r := range chats.Received() {
		switch {
		case r.Kind == notify.KindWeCom && r.Type == "text":
			text = strings.Contains(r.Text, "张*明") && !strings.Contains(r.Text, "张小明")
		case r.Kind == notify.KindWeCom && r.Type == "image":
			_, err := stdpng.Decode(bytes.NewReader(r.Image))
			png = err == nil
		case r.Kind == notify.KindDingTalk && r.ImageURL != "":
			u, err := url.Parse(r.ImageURL)
			if err != nil {
				t.Fatalf("DingTalk's picture link %q: %v", r.ImageURL, err)
			}
			resp, err := http.Get("http://" + c.HTTP + u.Path)
			if err != nil {
				t.Fatal(err)
			}
			_, err = stdpng.Decode(resp.Body)
			resp.Body.Close()
			link = err == nil && strings.Contains(r.Text, "张*明")
		}
	}
	if !text || !png || !link {
		t.Fatalf("the chats received %d messages: WeCom text %t, PNG %t; DingTalk's linked picture %t", len(chats.Received()), text, png, link)
	}
}
