package protocol

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dalaba/dalaba/protocol/schedule"
)

const (
	shaA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	shaB = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
)

// goodBroadcast is a village with a horn on the square (multicast), a
// network speaker at the school, the line-out, and a morning announcement.
func goodBroadcast() Broadcast {
	return Broadcast{
		Quiet:       []schedule.Quiet{{From: "22:00", To: "06:30"}},
		ListWindowH: 48,
		Speakers: []Speaker{
			{ID: "square", Name: "村口广场", Driver: DriverRTP, Addr: "239.255.10.1:5004", Codec: "PCMA", TTL: 2},
			{ID: "school", Driver: DriverHTTP, PlayURL: "http://10.0.0.7/api/play?url={url}", StopURL: "http://10.0.0.7/api/stop"},
			{ID: "lineout", Driver: DriverSoundcard, Volume: 80},
		},
		Zones: []Zone{
			{ID: "east", Name: "东片", Speakers: []string{"square", "lineout"}},
			{ID: "school", Speakers: []string{"school"}, Volume: 60},
		},
		Media: []Media{{SHA256: shaA, Name: "防汛通知", Size: 48000, DurationMS: 3000}, {SHA256: shaB, Size: 10}},
		Schedules: []Schedule{{
			ID: "morning", Name: "早间广播", Media: []string{shaA, shaB}, Zones: []string{"east"}, Kind: ScheduleList,
			Rule: schedule.Rule{At: []string{"07:30"}, Weekdays: []int{1, 2, 3, 4, 5}},
		}},
	}
}

func TestBroadcastValidate(t *testing.T) {
	if err := new(goodBroadcast()).Validate(); err != nil {
		t.Fatalf("good broadcast refused: %v", err)
	}
	cases := []struct {
		name string
		edit func(b *Broadcast)
		want string
	}{
		{"unknown driver", func(b *Broadcast) { b.Speakers[0].Driver = "sip" }, `driver "sip"`},
		{"rtp without port", func(b *Broadcast) { b.Speakers[0].Addr = "239.255.10.1" }, "want host:port"},
		{"rtp codec", func(b *Broadcast) { b.Speakers[0].Codec = "G722" }, `codec "G722"`},
		{"ttl", func(b *Broadcast) { b.Speakers[0].TTL = 256 }, "ttl 256"},
		{"http without {url}", func(b *Broadcast) { b.Speakers[1].PlayURL = "http://10.0.0.7/play" }, "no {url}"},
		{"http bad scheme", func(b *Broadcast) { b.Speakers[1].PlayURL = "file:///{url}" }, "http or https"},
		{"speaker volume", func(b *Broadcast) { b.Speakers[2].Volume = 101 }, "volume 101"},
		{"duplicate speaker", func(b *Broadcast) { b.Speakers[1].ID = "square"; b.Zones[1].Speakers = []string{"square"} }, `id "square" used twice`},
		{"bad id", func(b *Broadcast) { b.Zones[0].ID = "东片" }, "only a-z"},
		{"zone with unknown speaker", func(b *Broadcast) { b.Zones[0].Speakers = []string{"nobody"} }, `unknown speaker "nobody"`},
		{"empty zone", func(b *Broadcast) { b.Zones[0].Speakers = nil }, "no speakers"},
		{"bad sha", func(b *Broadcast) { b.Media[1].SHA256 = "BB" }, "want 64 hex digits"},
		{"media size", func(b *Broadcast) { b.Media[1].Size = 0 }, "size 0"},
		{"duplicate media", func(b *Broadcast) { b.Media[1].SHA256 = shaA }, "listed twice"},
		{"schedule media unknown", func(b *Broadcast) { b.Schedules[0].Media = []string{strings.Repeat("c", 64)} }, "not in broadcast.media"},
		{"schedule without media", func(b *Broadcast) { b.Schedules[0].Media = nil }, "want 1 to 16 clips"},
		{"schedule zone unknown", func(b *Broadcast) { b.Schedules[0].Zones = []string{"west"} }, `unknown zone "west"`},
		{"schedule rule", func(b *Broadcast) { b.Schedules[0].Rule = schedule.Rule{At: []string{"25:00"}} }, ".rule:"},
		{"schedule emergency", func(b *Broadcast) { b.Schedules[0].Priority = PlayEmergency }, "are commands"},
		{"on_preempt", func(b *Broadcast) { b.Schedules[0].OnPreempt = "later" }, `on_preempt "later"`},
		{"quiet", func(b *Broadcast) { b.Quiet = []schedule.Quiet{{From: "07:00", To: "07:00"}} }, "broadcast.quiet"},
		{"tz", func(b *Broadcast) { b.TZ = "Mars/Olympus" }, "broadcast.tz"},
		{"chime", func(b *Broadcast) { b.Chime = strings.Repeat("d", 64) }, "broadcast.chime"},
		{"schedule kind", func(b *Broadcast) { b.Schedules[0].Kind = "gossip" }, `kind "gossip"`},
		{"list window", func(b *Broadcast) { b.ListWindowH = -1 }, "list_window_h -1"},
		{"no zones at all", func(b *Broadcast) { b.Zones = nil; b.Schedules[0].Zones = nil }, "no zones to play on"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := goodBroadcast()
			c.edit(&b)
			err := b.Validate()
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error containing %q", err, c.want)
			}
		})
	}
}

func TestDecodeSpec(t *testing.T) {
	good, err := json.Marshal(Spec{Broadcast: new(goodBroadcast())})
	if err != nil {
		t.Fatal(err)
	}
	s, err := DecodeSpec(good)
	if err != nil || s.Broadcast == nil || len(s.Broadcast.Schedules) != 1 {
		t.Fatalf("DecodeSpec(good) = %+v, %v", s, err)
	}
	if s, err := DecodeSpec(nil); err != nil || s.Broadcast != nil {
		t.Fatalf("empty spec: %+v, %v", s, err)
	}
	for _, bad := range []string{`{`, `{"cameras":[]}`, `{"broadcast":{"speakers":[{"id":"a","driver":"x"}]}}`, `{} {}`, `[]`} {
		_, err := DecodeSpec(json.RawMessage(bad))
		if _, ok := errors.AsType[*RejectError](err); !ok {
			t.Errorf("DecodeSpec(%s) = %v, want a RejectError", bad, err)
		}
	}
	// A signed desired state carries only a valid spec: the township cannot
	// sign a bad one and the box cannot open one.
	d := goodDesired()
	d.Spec = json.RawMessage(`{"broadcast":{"zones":[{"id":"z","speakers":["ghost"]}]}}`)
	if _, err := SignDesired(testKey(), d); err == nil {
		t.Fatal("signed a desired state whose zone names an unknown speaker")
	}
}

func TestCommandArgs(t *testing.T) {
	cases := []struct {
		args string
		want string // "" for valid
	}{
		{`{"media":["` + shaA + `"],"zones":["east"],"priority":"emergency","repeat":3}`, ""},
		{`{"media":["` + shaA + `"]}`, ""},
		{`{"media":[]}`, "want 1 to 16 clips"},
		{`{"media":["xyz"]}`, "64 hex"},
		{`{"media":["` + shaA + `"],"priority":"urgent"}`, `priority "urgent"`},
		{`{"media":["` + shaA + `"],"repeat":11}`, "repeat 11"},
		{`{"media":["` + shaA + `"],"volume":3}`, "unknown field"},
	}
	for _, c := range cases {
		var a PlayArgs
		err := DecodeArgs(json.RawMessage(c.args), &a)
		if err == nil {
			err = a.Validate()
		}
		if (c.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.want)) {
			t.Errorf("play %s: got %v, want %q", c.args, err, c.want)
		}
	}
	for _, c := range []struct {
		a  VolumeArgs
		ok bool
	}{{VolumeArgs{"east", 0}, true}, {VolumeArgs{"east", 100}, true}, {VolumeArgs{"east", 101}, false}, {VolumeArgs{"", 50}, false}} {
		if err := c.a.Validate(); (err == nil) != c.ok {
			t.Errorf("volume %+v: %v", c.a, err)
		}
	}
}

func TestBroadcastGolden(t *testing.T) {
	d := goodDesired()
	b, err := json.Marshal(Spec{Broadcast: new(goodBroadcast())})
	if err != nil {
		t.Fatal(err)
	}
	d.Spec = b
	got, err := SignDesired(testKey(), d)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", "desired_broadcast.v1.json")
	if *update {
		if err := os.WriteFile(path, append(got, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./protocol -update to create)", err)
	}
	if strings.TrimSpace(string(want)) != string(got) {
		t.Errorf("desired_broadcast.v1.json changed:\n got %s\nwant %s", got, want)
	}
}

// FuzzDecodeSpec: any spec is a value or a RejectError, and what is
// accepted validates again after a round trip.
func FuzzDecodeSpec(f *testing.F) {
	good, _ := json.Marshal(Spec{Broadcast: new(goodBroadcast())})
	f.Add(good)
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"broadcast":{"speakers":[{"id":"a","driver":"rtp","addr":"h:1"}],"zones":[{"id":"z","speakers":["a"]}]}}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		s, err := DecodeSpec(raw)
		if err != nil {
			if _, ok := errors.AsType[*RejectError](err); !ok {
				t.Fatalf("non-reject error %T: %v", err, err)
			}
			return
		}
		b, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := DecodeSpec(b); err != nil {
			t.Fatalf("accepted spec fails after a round trip: %v", err)
		}
	})
}
