package alert

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dalaba/dalaba/cloud/fleet"
	"github.com/dalaba/dalaba/cloud/notify"
	"github.com/dalaba/dalaba/cloud/notify/notifytest"
	"github.com/dalaba/dalaba/cloud/store"
	"github.com/dalaba/dalaba/cloud/store/boltstore"
	"github.com/dalaba/dalaba/protocol"
)

// clock is the test's wall clock: only it and the sound card are faked.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// 10:00 in Shanghai, outside the quiet hours the tests set.
var start = time.Date(2026, 12, 1, 2, 0, 0, 0, time.UTC)

const grace = time.Minute

// town is a township's alerting over a real store, real presence and the
// notifytest receiver, judged step by step on the test's clock.
type town struct {
	t    *testing.T
	clk  *clock
	path string
	st   *boltstore.Store
	pres *fleet.Presence
	rcv  *notifytest.Receiver
	e    *Engine
	seq  uint64 // the next event seq per box (one box is enough)
	// fromStore: the engine is a replica's, judging what the store holds.
	fromStore bool

	stopPresence func() // ends presence's Run, which writes what it knows
}

func newTown(t *testing.T) *town { t.Helper(); return newTownOf(t, false) }

func newTownOf(t *testing.T, fromStore bool) *town {
	t.Helper()
	tw := &town{t: t, clk: &clock{t: start}, path: filepath.Join(t.TempDir(), "cloud.db"), seq: 1, fromStore: fromStore}
	tw.rcv = notifytest.New(t, tw.clk.Now)
	tw.open()
	for _, id := range []string{"dongshan", "xishan"} {
		if err := tw.st.CreateBox(t.Context(), store.Box{ID: id, Name: map[string]string{"dongshan": "东山村", "xishan": "西山村"}[id], CreatedAt: start}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := tw.st.UpdateAlertSettings(t.Context(), func(s *store.AlertSettings) error {
		s.Channels = []store.AlertChannel{
			{ID: "wecom", Name: "镇政府群", Kind: "wecom", URL: tw.rcv.Channel(notify.KindWeCom).URL},
			{ID: "ding", Name: "值班群", Kind: "dingtalk", URL: tw.rcv.Channel(notify.KindDingTalk).URL, Secret: notifytest.DingTalkSecret},
		}
		s.Rules = DefaultRules()
		for i := range s.Rules {
			if !notice(s.Rules[i].Kind) {
				s.Rules[i].HoldDown = 5 * time.Minute
			}
		}
		s.Quiet = &store.QuietHours{From: "22:00", To: "07:00", Zone: "Asia/Shanghai"}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := tw.plan(); err != nil {
		t.Fatal(err)
	}
	tw.start()
	return tw
}

func (tw *town) plan() error {
	return tw.st.UpdatePlan(tw.t.Context(), "dongshan", func(p *store.Plan) error {
		p.Broadcast.Speakers = []protocol.Speaker{{ID: "horn-1", Name: "村口大喇叭", Driver: "rtp", Addr: "192.168.1.20:5004"}}
		p.Broadcast.Schedules = []protocol.Schedule{{ID: "morning", Name: "早间新闻"}}
		return nil
	})
}

func (tw *town) open() {
	tw.t.Helper()
	st, err := boltstore.Open(tw.path, boltstore.Options{})
	if err != nil {
		tw.t.Fatal(err)
	}
	tw.st = st
	tw.t.Cleanup(func() { st.Close() })
}

// start is the township starting: fresh presence (nothing survives a
// restart as online) and a fresh engine over the store.
func (tw *town) start() {
	tw.t.Helper()
	log := slog.New(slog.DiscardHandler)
	pres, err := fleet.NewPresence(fleet.PresenceConfig{}, fleet.PresenceDeps{Logger: log, Store: tw.st, Now: tw.clk.Now})
	if err != nil {
		tw.t.Fatal(err)
	}
	tw.pres = pres
	ctx, cancel := context.WithCancel(tw.t.Context())
	done := make(chan error, 1)
	go func() { done <- pres.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			// Stopped before its first read of the store, it says so.
			if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
				tw.t.Errorf("presence: %v", err)
			}
		})
	}
	tw.stopPresence = stop
	tw.t.Cleanup(stop)
	tw.e, err = New(Config{FromStore: tw.fromStore, StartupGrace: grace, Backoff: notify.Backoff{Initial: time.Second, Max: time.Second, Attempts: 2}}, Deps{
		Logger: log, Store: tw.st, Presence: pres, Now: tw.clk.Now, Sender: notify.NewSender(nil, tw.clk.Now),
		Sleep: func(ctx context.Context, _ time.Duration) bool { return ctx.Err() == nil },
	})
	if err != nil {
		tw.t.Fatal(err)
	}
	if err := tw.e.load(tw.t.Context()); err != nil {
		tw.t.Fatal(err)
	}
	tw.e.trustFrom = tw.clk.Now().Add(grace)
}

// restart is the township's process ending and a new one starting on the
// same store.
func (tw *town) restart() {
	tw.t.Helper()
	tw.stopPresence()
	if err := tw.st.Close(); err != nil {
		tw.t.Fatal(err)
	}
	tw.open()
	tw.start()
}

// leave is a box's last message and then its connection ending: its
// last sign of life is now.
func (tw *town) leave(box string) {
	tw.pres.Heard(box, false, false)
	tw.pres.Disconnected(box)
}

// step advances the clock by d, judges, and waits for the sends due.
func (tw *town) step(d time.Duration) {
	tw.t.Helper()
	tw.stepCtx(tw.t.Context(), d)
}

func (tw *town) stepCtx(ctx context.Context, d time.Duration) {
	tw.clk.add(d)
	var wg sync.WaitGroup
	tw.e.tick(ctx)
	tw.e.sendDue(ctx, &wg, make(chan struct{}, maxSending))
	wg.Wait()
}

// event stores and hands the engine an event of dongshan, as ingest does.
func (tw *town) event(typ string, data any) {
	tw.t.Helper()
	got, ev := tw.stored(typ, data)
	tw.e.Observe("dongshan", got, []store.Event{ev})
}

// stored stores an event of dongshan as another replica would, without
// telling this engine.
func (tw *town) stored(typ string, data any) (store.Appended, store.Event) {
	tw.t.Helper()
	b, _ := json.Marshal(data)
	ev := store.Event{Seq: tw.seq, Time: tw.clk.Now(), Type: typ, Priority: 2, Data: b}
	tw.seq++
	got, err := tw.st.AppendEvents(tw.t.Context(), "dongshan", store.Batch{Floor: 1, Events: []store.Event{ev}, ReceivedAt: tw.clk.Now()})
	if err != nil {
		tw.t.Fatal(err)
	}
	ev.Incarnation = got.Incarnation
	return got, ev
}

// received is what the receiver accepted, as one string per message, and
// fails on anything it refused (a bad DingTalk signature, say).
func (tw *town) received() []string {
	tw.t.Helper()
	if r := tw.rcv.Refused(); len(r) > 0 {
		tw.t.Fatalf("the receiver refused: %v", r)
	}
	var out []string
	for _, r := range tw.rcv.Received() {
		out = append(out, string(r.Kind)+": "+r.Text)
	}
	return out
}

func (tw *town) wantReceived(n int, contains ...string) []string {
	tw.t.Helper()
	got := tw.received()
	if len(got) != n {
		tw.t.Fatalf("%d messages, want %d:\n%s", len(got), n, strings.Join(got, "\n"))
	}
	for _, m := range got[max(0, n-2):] {
		for _, c := range contains {
			if !strings.Contains(m, c) {
				tw.t.Errorf("message %q lacks %q", m, c)
			}
		}
	}
	return got
}

// A box that goes quiet is alerted once, after the hold-down, on each
// channel in its format (DingTalk signed), and its recovery once.
func TestABoxOfflineIsAlertedOnceAndItsRecoveryOnce(t *testing.T) {
	tw := newTown(t)
	tw.pres.Connected("dongshan")
	tw.pres.Connected("xishan")
	tw.step(grace + time.Second)
	tw.wantReceived(0)

	tw.leave("dongshan")
	tw.step(4 * time.Minute)
	tw.wantReceived(0) // within the hold-down
	tw.step(time.Minute + time.Second)
	tw.wantReceived(2, "东山村广播盒已离线 5 分钟", "最后在线 10:01", "请检查广播盒电源和网络", "【大喇叭告警】")
	for range 5 {
		tw.step(time.Minute)
	}
	tw.wantReceived(2) // one message per incident

	tw.pres.Connected("dongshan")
	tw.step(time.Second)
	tw.wantReceived(4, "东山村广播盒已恢复在线", "【大喇叭恢复】")
	tw.step(time.Minute)
	tw.wantReceived(4)

	as, err := tw.st.ListAlerts(t.Context(), store.AlertFilter{Limit: 10})
	if err != nil || len(as) != 2 || as[0].State != store.AlertResolved || as[1].State != store.AlertOpened {
		t.Fatalf("alert log %+v, %v", as, err)
	}
	for _, a := range as {
		for _, d := range a.Deliveries {
			if d.Status != store.AlertDeliverySent || d.Attempts != 1 {
				t.Errorf("alert %d to %s: %+v", a.Seq, d.Channel, d)
			}
		}
	}
	if incs, _ := tw.st.ListIncidents(t.Context()); len(incs) != 0 {
		t.Errorf("incidents left: %+v", incs)
	}
}

// A township restart with every box fine sends nothing: boxes reconnect
// within the startup grace, however long ago they were last seen.
func TestATownshipRestartWithBoxesFineSendsNothing(t *testing.T) {
	tw := newTown(t)
	tw.pres.Connected("dongshan")
	tw.pres.Connected("xishan")
	tw.step(grace + time.Second)

	tw.clk.add(20 * time.Minute) // the township was down a while
	tw.restart()
	for range 5 {
		tw.step(10 * time.Second) // within the grace, nobody has reconnected yet
	}
	tw.pres.Connected("dongshan")
	tw.pres.Connected("xishan")
	for range 10 {
		tw.step(time.Minute)
	}
	tw.wantReceived(0)
	if as, _ := tw.st.ListAlerts(t.Context(), store.AlertFilter{Limit: 10}); len(as) != 0 {
		t.Errorf("alerts recorded: %+v", as)
	}
}

// An open incident survives a restart: not alerted again, and its
// recovery still comes; a box that stayed away through the restart is
// alerted after the grace, counted from its last sign of life.
func TestIncidentsSurviveARestart(t *testing.T) {
	tw := newTown(t)
	tw.pres.Connected("dongshan")
	tw.pres.Connected("xishan")
	tw.step(grace + time.Second)
	tw.leave("dongshan")
	tw.step(6 * time.Minute)
	tw.wantReceived(2, "东山村广播盒已离线")
	tw.leave("xishan")

	tw.clk.add(10 * time.Minute)
	tw.restart()
	tw.step(10 * time.Second)
	tw.wantReceived(2) // dongshan is not alerted again; xishan waits out the grace
	tw.step(grace)
	tw.wantReceived(4, "西山村广播盒已离线 11 分钟（最后在线 10:07）")
	tw.pres.Connected("dongshan")
	tw.step(time.Second)
	tw.wantReceived(6, "东山村广播盒已恢复在线")
}

// A horn that fails is alerted after the hold-down with its name; one
// that comes back within it is not; a batch heard twice counts once.
func TestAHornFailingAndAFlap(t *testing.T) {
	tw := newTown(t)
	tw.pres.Connected("dongshan")
	tw.pres.Connected("xishan")
	tw.step(grace)
	tw.event(protocol.EventSpeakerHealth, protocol.SpeakerHealth{ID: "horn-1", Reachable: false, Error: "no route to host"})
	tw.step(2 * time.Minute)
	tw.event(protocol.EventSpeakerHealth, protocol.SpeakerHealth{ID: "horn-1", Reachable: true})
	tw.step(10 * time.Minute)
	tw.wantReceived(0)

	tw.event(protocol.EventSpeakerHealth, protocol.SpeakerHealth{ID: "horn-1", Reachable: false, Error: "no route to host"})
	tw.step(5*time.Minute + time.Second)
	tw.wantReceived(2, "东山村的喇叭“村口大喇叭”无法播放（no route to host）", "请检查喇叭电源")
	tw.step(time.Minute)
	tw.wantReceived(2)

	// The same reachable event sent twice, and an old one again: the
	// incident resolves once, and the replay does not reopen it.
	b, _ := json.Marshal(protocol.SpeakerHealth{ID: "horn-1", Reachable: true})
	ev := store.Event{Seq: tw.seq, Incarnation: 1, Time: tw.clk.Now(), Type: protocol.EventSpeakerHealth, Data: b}
	tw.seq++
	tw.e.Observe("dongshan", store.Appended{}, []store.Event{ev})
	tw.e.Observe("dongshan", store.Appended{}, []store.Event{ev})
	old, _ := json.Marshal(protocol.SpeakerHealth{ID: "horn-1", Reachable: false})
	tw.e.Observe("dongshan", store.Appended{}, []store.Event{{Seq: 1, Incarnation: 1, Type: protocol.EventSpeakerHealth, Data: old}})
	tw.step(10 * time.Minute)
	tw.wantReceived(4, "喇叭“村口大喇叭”已恢复正常")
}

// With replicas, the engine of the lease holder judges what any replica
// stored: a horn failing, reported to another replica, is alerted once,
// and its recovery once.
func TestTheLeaseHolderJudgesWhatOtherReplicasStored(t *testing.T) {
	tw := newTownOf(t, true)
	tw.pres.Connected("dongshan")
	tw.pres.Connected("xishan")
	tw.step(grace)
	tw.stored(protocol.EventSpeakerHealth, protocol.SpeakerHealth{ID: "horn-1", Reachable: false, Error: "no route to host"})
	tw.step(DefaultTick) // the next tick reads it
	tw.wantReceived(0)
	tw.step(5*time.Minute + time.Second)
	tw.wantReceived(2, "东山村的喇叭“村口大喇叭”无法播放（no route to host）")
	tw.step(time.Minute)
	tw.wantReceived(2)
	// Observed here too (this replica stored it): judged once, from the store.
	tw.event(protocol.EventSpeakerHealth, protocol.SpeakerHealth{ID: "horn-1", Reachable: true})
	tw.step(10 * time.Minute)
	tw.wantReceived(4, "喇叭“村口大喇叭”已恢复正常")
	tw.step(10 * time.Minute)
	tw.wantReceived(4)
}

// Quiet hours hold what is not urgent; an incident that comes and goes
// within them is never sent; one that lasts is sent when they end. The
// urgent box offline is sent at once.
func TestQuietHours(t *testing.T) {
	tw := newTown(t)
	tw.pres.Connected("dongshan")
	tw.pres.Connected("xishan")
	tw.step(grace)
	tw.clk.add(13 * time.Hour) // 23:01 in Shanghai

	tw.event(protocol.EventCameraOffline, protocol.CameraState{Camera: "gate", Error: "connection refused"})
	tw.step(6 * time.Minute)
	tw.event(protocol.EventCameraOnline, protocol.CameraState{Camera: "gate"})
	tw.step(time.Minute)
	tw.wantReceived(0)
	as, _ := tw.st.ListAlerts(t.Context(), store.AlertFilter{Limit: 10})
	if len(as) != 2 || as[0].Deliveries[0].Status != store.AlertDeliveryDropped || as[1].Deliveries[0].Status != store.AlertDeliveryDropped {
		t.Fatalf("the log of an incident that came and went at night: %+v", as)
	}

	tw.event(protocol.EventHealth, protocol.Health{DiskFreeBytes: 1 << 29, DiskTotalBytes: 16 << 30, ClockTrusted: true})
	tw.step(31 * time.Minute)
	tw.leave("xishan")
	tw.step(6 * time.Minute)
	tw.wantReceived(2, "西山村广播盒已离线") // urgent: at once
	tw.step(7 * time.Hour)          // 06:45: still quiet
	tw.wantReceived(2)
	tw.step(30 * time.Minute) // 07:15
	tw.wantReceived(4, "东山村广播盒存储空间不足（剩余 3%，0.5 GB）")
}

// A playback that failed and one skipped for another reason than quiet
// hours are each one notice; a quiet-hours skip is none.
func TestPlaybackNotices(t *testing.T) {
	tw := newTown(t)
	tw.step(time.Second)
	tw.event(protocol.EventPlayed, protocol.PlayLog{ItemID: "i1", ScheduleID: "morning", Result: "failed", ScheduledAt: tw.clk.Now(),
		Errors: map[string]string{"horn-1": "write: connection refused"}, Media: []string{}, Zones: []string{}, Speakers: []string{}})
	tw.event(protocol.EventSkipped, protocol.Skip{ScheduleID: "morning", At: tw.clk.Now(), Reason: "quiet_hours"})
	tw.event(protocol.EventSkipped, protocol.Skip{ScheduleID: "morning", At: tw.clk.Now(), Reason: "late"})
	tw.event(protocol.EventUpdateRolledBack, protocol.RolledBack{From: "1.4.0", To: "1.3.2", Reason: "crash_loop"})
	tw.step(time.Second)
	got := tw.wantReceived(6)
	all := strings.Join(got, "\n")
	for _, want := range []string{"广播“早间新闻”未能播出：horn-1：write: connection refused", "错过了播放时间", "升级到 1.4.0 失败，已自动退回 1.3.2（原因：crash_loop）"} {
		if !strings.Contains(all, want) {
			t.Errorf("no message says %q:\n%s", want, all)
		}
	}
}

// A delivery cut by a stop is sent after the restart, once; one the
// platform keeps refusing is given up with its reason.
func TestDeliveriesResumeAfterARestart(t *testing.T) {
	tw := newTown(t)
	tw.pres.Connected("dongshan")
	tw.pres.Connected("xishan")
	tw.step(grace)
	tw.leave("dongshan")
	tw.rcv.FailNext(notify.KindWeCom, 100, 500, 0)
	tw.rcv.FailNext(notify.KindDingTalk, 100, 500, 0)
	ctx, cancel := context.WithCancel(t.Context())
	tw.e.d.Sleep = func(context.Context, time.Duration) bool { cancel(); return false } // the service stops during the backoff
	tw.stepCtx(ctx, 6*time.Minute)
	tw.wantReceived(0)
	if p, _ := tw.st.PendingAlerts(t.Context()); len(p) != 1 {
		t.Fatalf("pending after the stop: %+v", p)
	}

	tw.rcv.FailNext(notify.KindWeCom, 0, 500, 0)
	tw.restart()
	tw.pres.Connected("xishan")
	tw.rcv.FailNext(notify.KindDingTalk, 100, 200, 310000) // a refusal no retry mends
	tw.step(time.Second)
	tw.wantReceived(1, "东山村广播盒已离线")
	as, _ := tw.st.ListAlerts(t.Context(), store.AlertFilter{Limit: 1})
	ds := map[string]store.AlertDelivery{}
	for _, d := range as[0].Deliveries {
		ds[d.Channel] = d
	}
	if ds["wecom"].Status != store.AlertDeliverySent || ds["ding"].Status != store.AlertDeliveryFailed || !strings.Contains(ds["ding"].Error, "310000") {
		t.Errorf("deliveries %+v", ds)
	}
	tw.step(time.Minute)
	tw.wantReceived(1)
}

func TestATestMessageIsSentAndLogged(t *testing.T) {
	tw := newTown(t)
	s, _ := tw.st.GetAlertSettings(t.Context())
	a, err := tw.e.Test(t.Context(), s.Channels[1], "admin")
	if err != nil || a.State != store.AlertTest || a.Deliveries[0].Status != store.AlertDeliverySent {
		t.Fatalf("test: %+v, %v", a, err)
	}
	tw.wantReceived(1, "这是发往“值班群”的测试消息")
	bad := s.Channels[1]
	bad.Secret = "SECwrong"
	if a, err := tw.e.Test(t.Context(), bad, "admin"); err == nil || a.Deliveries[0].Status != store.AlertDeliveryFailed {
		t.Errorf("a wrong secret: %+v, %v", a, err)
	}
	if r := tw.rcv.Refused(); len(r) != 1 || !strings.Contains(r[0], "sign") {
		t.Errorf("refused %v", r)
	}
}

func TestValidation(t *testing.T) {
	ch := []store.AlertChannel{{ID: "office"}}
	for _, c := range []struct {
		r    store.AlertRule
		want string
	}{
		{store.AlertRule{Kind: "nope", HoldDown: time.Minute}, "kind"},
		{store.AlertRule{Kind: RuleBoxOffline}, "hold_down"},
		{store.AlertRule{Kind: RulePlaybackFailed, HoldDown: time.Minute}, "hold_down"},
		{store.AlertRule{Kind: RuleDiskLow, HoldDown: time.Minute}, "threshold"},
		{store.AlertRule{Kind: RuleBoxOffline, HoldDown: time.Minute, Threshold: 3}, "threshold"},
		{store.AlertRule{Kind: RuleBoxOffline, HoldDown: time.Minute, Channels: []string{"gone"}}, "channels"},
	} {
		if err := ValidateRule(c.r, ch); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want one naming %s", c.r, err, c.want)
		}
	}
	if err := ValidateRule(store.AlertRule{Kind: RuleDiskLow, HoldDown: time.Minute, Threshold: 10, Channels: []string{"office"}}, ch); err != nil {
		t.Error(err)
	}
	if err := ValidateChannel(store.AlertChannel{ID: "Bad ID", Kind: "pager", URL: "ftp://x"}); err == nil || strings.Count(err.Error(), "\n") < 3 {
		t.Errorf("a bad channel: %v", err)
	}
	if err := ValidateQuiet(store.QuietHours{From: "25:00", To: "07:00", Zone: "Mars/Olympus"}); err == nil || strings.Count(err.Error(), "\n") < 1 {
		t.Errorf("bad quiet hours: %v", err)
	}
	for raw, want := range map[string]string{
		"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=4f1c":     "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?…",
		"https://open.feishu.cn/open-apis/bot/v2/hook/0123456789abcdef": "https://open.feishu.cn/open-apis/bot/v2/hook/…",
		"https://user:pw@sms.example/send":                              "https://sms.example/send",
	} {
		if got := MaskedURL(raw); got != want {
			t.Errorf("MaskedURL(%s) = %s, want %s", raw, got, want)
		}
	}
}

func TestDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		20 * time.Second: "不到 1 分钟", 12 * time.Minute: "12 分钟", 3*time.Hour + 5*time.Minute: "3 小时 5 分钟",
		2 * time.Hour: "2 小时", 51 * time.Hour: "2 天 3 小时", 48 * time.Hour: "2 天",
	} {
		if got := duration(d); got != want {
			t.Errorf("duration(%s) = %s, want %s", d, got, want)
		}
	}
}

// Run judges as events come, without waiting for its tick, and stops with
// its context.
func TestRunActsOnEventsAsTheyCome(t *testing.T) {
	tw := newTown(t)
	tw.e.cfg.Tick = time.Hour
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- tw.e.Run(ctx) }()
	tw.event(protocol.EventUpdateRolledBack, protocol.RolledBack{From: "1.4.0", Reason: "watchdog"})
	deadline := time.Now().Add(10 * time.Second)
	for len(tw.rcv.Received()) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("nothing sent: %v", tw.received())
		}
		time.Sleep(10 * time.Millisecond) // polling the receiver to a deadline
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	tw.wantReceived(2, "东山村广播盒升级到 1.4.0 失败，已自动退回 原版本（原因：watchdog）")
}
