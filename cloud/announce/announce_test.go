package announce

import (
	"context"
	"encoding/json"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dalaba/dalaba/cloud/fleet"
	"github.com/dalaba/dalaba/cloud/media"
	"github.com/dalaba/dalaba/cloud/plan"
	"github.com/dalaba/dalaba/cloud/store"
	"github.com/dalaba/dalaba/cloud/store/boltstore"
	"github.com/dalaba/dalaba/cloud/tts"
	"github.com/dalaba/dalaba/internal/testenv"
	"github.com/dalaba/dalaba/protocol"
)

// published counts what the fleet hands the MQTT side; the store keeps
// the signed states the test reads back.
type published struct{ n int }

func (p *published) PublishDesired(context.Context, string, []byte) error { p.n++; return nil }

// newRig is a township with one village whose square has a horn, speaking
// with the real espeak-ng.
func newRig(t *testing.T) (*Announcer, *boltstore.Store, *plan.Planner, func() time.Time) {
	t.Helper()
	testenv.Tool(t, "espeak-ng", "apt-get install espeak-ng")
	log := slog.New(slog.DiscardHandler)
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "cloud.db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	key, err := protocol.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	now := func() time.Time { return time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC) } // 17:00 in Shanghai
	fl, err := fleet.New(fleet.Config{Validity: 720 * time.Hour, BrokerURL: "tls://township.example:8883", CloudUser: "dalaba_cloud"},
		fleet.Deps{Logger: log, Store: st, Key: key, Publisher: &published{}, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	lib, err := media.New(media.Config{Dir: filepath.Join(t.TempDir(), "media")}, media.Deps{Logger: log, Index: st, Plans: st, Now: now,
		BoxAuth: func(context.Context, string, string) (string, bool) { return "", false }})
	if err != nil {
		t.Fatal(err)
	}
	pl, err := plan.New(plan.Deps{Logger: log, Store: st, Fleet: fl, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	speech, err := tts.NewEspeak(tts.EspeakConfig{})
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(Default(), Deps{Logger: log, Speech: speech, Library: lib, Plans: pl, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	for _, v := range []string{"village-1", "village-2"} {
		if _, _, err := fl.AddBox(ctx, v, "示范村"); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := pl.Update(ctx, "village-1", "test", func(b *protocol.Broadcast) error {
		b.Speakers = []protocol.Speaker{{ID: "horn", Driver: protocol.DriverRTP, Addr: "10.0.0.9:5004"}}
		b.Zones = []protocol.Zone{{ID: "square", Speakers: []string{"horn"}}}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return a, st, pl, now
}

// desiredList reads the list schedule from the box's signed desired state.
func desiredList(t *testing.T, st store.Store, box, id string) (protocol.Schedule, bool) {
	t.Helper()
	d, err := st.GetDesired(t.Context(), box)
	if err != nil {
		t.Fatal(err)
	}
	var env struct{ Body protocol.Desired }
	if err := json.Unmarshal(d.Payload, &env); err != nil {
		t.Fatal(err)
	}
	spec, err := protocol.DecodeSpec(env.Body.Spec)
	if err != nil {
		t.Fatal(err)
	}
	if spec.Broadcast == nil {
		return protocol.Schedule{}, false
	}
	for _, s := range spec.Broadcast.Schedules {
		if s.ID == id {
			return s, true
		}
	}
	return protocol.Schedule{}, false
}

func TestPublishReviseWithdraw(t *testing.T) {
	a, st, _, _ := newRig(t)
	ctx := t.Context()
	if err := a.Announce(ctx, "village-1", "2026-11", "各位村民请注意，现在播报示范村2026年11月红黑榜。红榜：张三，孝老爱亲。黑榜：李四，人居环境整治。"); err != nil {
		t.Fatal(err)
	}
	first, ok := desiredList(t, st, "village-1", "list-2026-11")
	if !ok {
		t.Fatal("no list schedule in the desired state")
	}
	if first.Kind != protocol.ScheduleList || first.Rule.Start != "2026-12-01" || first.Rule.End != "2026-12-07" ||
		strings.Join(first.Rule.At, ",") != "08:00,18:00" || len(first.Media) != 1 {
		t.Fatalf("list schedule %+v", first)
	}
	clip, err := st.GetMedia(ctx, first.Media[0])
	if err != nil || clip.DurationMS < 3000 {
		t.Fatalf("spoken list %+v, %v: want several seconds of speech", clip, err)
	}

	// 李四 has rectified: the list is said again without him, on the same
	// dates, with new audio.
	if err := a.Announce(ctx, "village-1", "2026-11", "各位村民请注意，现在播报示范村2026年11月红黑榜。红榜：张三，孝老爱亲。"); err != nil {
		t.Fatal(err)
	}
	revised, _ := desiredList(t, st, "village-1", "list-2026-11")
	if revised.Media[0] == first.Media[0] || revised.Rule.Start != first.Rule.Start || revised.Rule.End != first.Rule.End {
		t.Fatalf("revised schedule %+v, first %+v", revised, first)
	}
	if _, ok := desiredList(t, st, "village-2", "list-2026-11"); ok {
		t.Fatal("another village got the list")
	}

	if err := a.Announce(ctx, "village-1", "2026-11", ""); err != nil {
		t.Fatal(err)
	}
	if s, ok := desiredList(t, st, "village-1", "list-2026-11"); ok {
		t.Fatalf("withdrawn list still scheduled: %+v", s)
	}
}

func TestRefusals(t *testing.T) {
	a, st, _, _ := newRig(t)
	ctx := t.Context()
	before, err := st.GetDesired(ctx, "village-2")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		village, period, text, want string
	}{
		{"village-1", "2026-13", "红榜：张三。", "period"},
		{"village-1", "2026-11", "\x00", "speaking"},
		{"village-2", "2026-11", "红榜：张三。", "no zones"}, // no loudspeakers yet
		{"nowhere", "2026-11", "红榜：张三。", "not found"},
	} {
		err := a.Announce(ctx, c.village, c.period, c.text)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Announce(%s, %s, %q) = %v, want %q", c.village, c.period, c.text, err, c.want)
		}
	}
	after, _ := st.GetDesired(ctx, "village-2")
	if after.Rev != before.Rev {
		t.Fatalf("a refused announcement changed village-2's desired state: rev %d → %d", before.Rev, after.Rev)
	}
	if err := (Config{At: []string{"25:00"}, Days: 7}).Validate(); err == nil {
		t.Error("a publication plan at 25:00 validated")
	}
	if err := (Config{At: []string{"08:00"}, Days: 0}).Validate(); err == nil {
		t.Error("a publication plan of 0 days validated")
	}
}
