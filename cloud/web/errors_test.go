package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/dalaba/dalaba/cloud/auth"
	"github.com/dalaba/dalaba/cloud/downlink"
	"github.com/dalaba/dalaba/cloud/lists"
	"github.com/dalaba/dalaba/cloud/media"
	"github.com/dalaba/dalaba/cloud/plan"
	"github.com/dalaba/dalaba/cloud/store"
	"github.com/dalaba/dalaba/protocol"
	"github.com/dalaba/dalaba/protocol/schedule"
)

func TestCodeTable(t *testing.T) {
	name := regexp.MustCompile(`^[a-z_]+(\.[a-z_]+)?$`)
	for c, spec := range codes() {
		if !name.MatchString(string(c)) {
			t.Errorf("code %q: want lower-case words, one dot at most", c)
		}
		if spec.status < 400 || spec.status > 599 || http.StatusText(spec.status) == "" {
			t.Errorf("code %s: status %d is not an error status", c, spec.status)
		}
		if spec.summary == "" {
			t.Errorf("code %s has no summary", c)
		}
	}
	for _, s := range sentinels() {
		if _, ok := codes()[s.code]; !ok {
			t.Errorf("sentinel %q answers with %q, which is not in the table", s.err, s.code)
		}
	}
	if got := Code("no.such_code").Status(); got != http.StatusInternalServerError {
		t.Errorf("an unknown code's status is %d, want 500", got)
	}
}

func TestErrorCodeOfWrappedSentinels(t *testing.T) {
	cases := []struct {
		err  error
		want Code
	}{
		{fmt.Errorf("boltstore: get box: box %q: %w", "x", store.ErrNotFound), CodeNotFound},
		{fmt.Errorf("lists: create entry: %w", errors.Join(fmt.Errorf("%w: kind: %q, want red or black", lists.ErrInvalid, "blue"))), CodeListsInvalid},
		{fmt.Errorf("%w: village-1 2026-11: %w", lists.ErrAnnounce, fmt.Errorf("entry 3: %w", store.ErrNotFound)), CodeAnnounceFailed},
		{fmt.Errorf("%w: %s may not take the admin role from themself", auth.ErrInvalid, "root"), CodeUserInvalid},
		{fmt.Errorf("media: put %q: %w: 4 being stored for 30s", "clip.wav", media.ErrBusy), CodeMediaBusy},
		{errors.New("disk on fire"), CodeInternal},
	}
	for _, c := range cases {
		if got := ProblemOf(c.err).Code; got != c.want {
			t.Errorf("ProblemOf(%q).Code = %s, want %s", c.err, got, c.want)
		}
	}
}

// badBroadcast fails the protocol's validation in three places, one of
// them a speaker with two problems of its own.
func badBroadcast() protocol.Broadcast {
	return protocol.Broadcast{
		TZ:       "Mars/Olympus",
		Speakers: []protocol.Speaker{{ID: "horn", Driver: protocol.DriverRTP, Addr: "nowhere", Volume: 300}},
		Zones:    []protocol.Zone{{ID: "square", Speakers: []string{"horn"}}},
		Schedules: []protocol.Schedule{{ID: "s1", Name: strings.Repeat("长", 80), Zones: []string{"square"},
			Media: []string{strings.Repeat("a", 64)}, Rule: schedule.Rule{At: []string{"07:30"}}}},
	}
}

func TestPlanProblemsNamedOneByOne(t *testing.T) {
	b := badBroadcast()
	verr := b.Validate()
	if verr == nil {
		t.Fatal("the broadcast validates")
	}
	// As the planner and the store wrap it on its way out.
	err := fmt.Errorf("plan: update dongcun: %w", fmt.Errorf("boltstore: update plan of dongcun: %w", fmt.Errorf("%w: %w", plan.ErrInvalid, verr)))
	code, sentinel := classify(err)
	if code != CodePlanInvalid {
		t.Fatalf("code %s, want %s", code, CodePlanInvalid)
	}
	p := problemOf(code, sentinel, err)
	if strings.Contains(p.Error, "boltstore") || strings.Contains(p.Error, "update plan") || strings.Contains(p.Error, "plan: invalid") || strings.Contains(p.Error, "\n") {
		t.Errorf("the message carries the chain: %q", p.Error)
	}
	if !strings.HasPrefix(p.Error, "the plan is not valid: ") {
		t.Errorf("the message %q does not lead with the summary", p.Error)
	}
	var paths []string
	for _, f := range p.Fields {
		paths = append(paths, f.Path)
		if !strings.Contains(p.Error, f.Message) {
			t.Errorf("field %+v is not in the message %q", f, p.Error)
		}
		if strings.Contains(f.Message, "plan: invalid") {
			t.Errorf("field %+v carries the sentinel", f)
		}
	}
	want := []string{"broadcast.tz", "broadcast.schedules[0]", "broadcast.speakers[0].volume", "broadcast.speakers[0].addr", "broadcast.schedules[0].name"}
	for _, w := range want {
		if !slices.Contains(paths, w) {
			t.Errorf("no field at %s; fields %+v", w, p.Fields)
		}
	}
	// Every problem the validator found is one field, none split or lost.
	if n := strings.Count(verr.Error(), "\n") + 1; len(p.Fields) != n {
		t.Errorf("%d fields for %d problems: %+v", len(p.Fields), n, p.Fields)
	}
}

func TestProblemMessages(t *testing.T) {
	cases := []struct {
		name string
		err  error
		code Code
		msg  string
	}{
		{"not found names what", fmt.Errorf("plan: get: boltstore: %w", fmt.Errorf("box %q: %w", "nobox", store.ErrNotFound)), CodeNotFound, `not found: box "nobox"`},
		{"exists names what", fmt.Errorf("auth: add user: %w", fmt.Errorf("user %q: %w", "li", store.ErrExists)), CodeExists, `already exists: user "li"`},
		{"in use says why", fmt.Errorf("plan: update x: %w", fmt.Errorf("%w: zone %q is used by schedule(s) s1; change them first", plan.ErrInUse, "all")),
			CodePlanInUse, `in use: zone "all" is used by schedule(s) s1; change them first`},
		{"an internal error says nothing", fmt.Errorf("boltstore: update: %w", errors.New("input/output error")), CodeInternal, "internal error"},
		{"no answer says nothing more", fmt.Errorf("downlink: command c1: %w: %w", downlink.ErrNoResult, context.DeadlineExceeded), CodeNoAnswer, "the box did not answer in time"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, sentinel := classify(c.err)
			p := problemOf(code, sentinel, c.err)
			if p.Code != c.code || p.Error != c.msg {
				t.Errorf("%s %q, want %s %q", p.Code, p.Error, c.code, c.msg)
			}
		})
	}
}

func TestPathOf(t *testing.T) {
	cases := []struct{ line, want string }{
		{"broadcast.schedules[2].name: longer than 200 bytes", "broadcast.schedules[2].name"},
		{`broadcast.zones[0] (square).volume 200: want 1-100, or 0 for 100`, "broadcast.zones[0].volume"},
		{`broadcast.zones[0] (square): unknown speaker "ghost"`, "broadcast.zones[0]"},
		{`broadcast.tz "Mars/Olympus": unknown time zone Mars/Olympus`, "broadcast.tz"},
		{`broadcast.media[0].size 0: want 1 to 8 bytes`, "broadcast.media[0].size"},
		{`kind: "blue", want red or black`, "kind"},
		{`name "": want 1 to 200 bytes of printable UTF-8`, "name"},
		{`cameras: viewer limits 2000/1: want 1 to 1000`, "cameras"},
		{`broadcast.speakers[0] (horn): volume 300: want 1-100, or 0 for 100`, "broadcast.speakers[0].volume"},
		{`broadcast.speakers[0] (horn): addr "nowhere": want host:port`, "broadcast.speakers[0].addr"},
		{`broadcast.speakers[0] (horn): play_url: "x" has no {url}`, "broadcast.speakers[0].play_url"},
		{`broadcast.schedules[0] (s1): medium "aa" is not in broadcast.media`, "broadcast.schedules[0]"},
		{`broadcast.schedules[0] (s1).rule: at "25:00": want HH:MM`, "broadcast.schedules[0].rule"},
		{`household: no household "h9" in village v1`, "household"},
		{`user name must be 1-32 printable characters`, ""},
		{`"clip.wav": not WAV or MP3`, ""},
		{`id "s9" in the body is not "s1" of the path`, ""},
	}
	for _, c := range cases {
		if got := pathOf(c.line); got != c.want {
			t.Errorf("pathOf(%q) = %q, want %q", c.line, got, c.want)
		}
	}
}

// TestPlanRefusalAnswer is the console's schedule form refused: the
// answer has the code, and each problem with where it is.
func TestPlanRefusalAnswer(t *testing.T) {
	e := newEnv(t)
	e.addBox(t)
	op := e.tokens[store.RoleOperator]
	clip := e.upload(t, "clip.wav", wavBytes(t, 1))
	body := fmt.Sprintf(`{"name":%q,"media":[%q],"zones":["nowhere"],"rule":{"at":["07:30"]}}`, strings.Repeat("长", 80), clip.SHA256)
	code, b, _ := e.raw(t, op, "PUT", "/api/v1/boxes/village-1/schedules/s1", "application/json", []byte(body), nil)
	if code != http.StatusBadRequest {
		t.Fatalf("%d %s", code, b)
	}
	var p Problem
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatal(err)
	}
	if p.Code != CodePlanInvalid || len(p.Fields) != 2 || p.Fields[0].Path != "broadcast.schedules[0].name" || p.Fields[1].Path != "broadcast.schedules[0]" ||
		!strings.Contains(p.Fields[1].Message, `unknown zone "nowhere"`) {
		t.Errorf("answer %s; want plan.invalid with the name and the zone as fields", b)
	}
	if strings.Contains(p.Error, "village-1:") || strings.Contains(p.Error, "boltstore") {
		t.Errorf("message %q carries the chain", p.Error)
	}
}

// FuzzPathOf: whatever a problem says, the path found is a JSON path or
// nothing.
func FuzzPathOf(f *testing.F) {
	for _, s := range []string{
		`broadcast.zones[0] (square).volume 200: want 1-100`, `broadcast.speakers[0] (horn): addr "x\"y": want host:port`,
		`kind: "blue", want red or black`, `user name must be 1-32 printable characters`, `a (b (c)): d`, `x[1][2].y 1/2/3: z`,
	} {
		f.Add(s)
	}
	valid := regexp.MustCompile(`^([a-z_][a-z0-9_]*(\[\d+\])*)(\.[a-z_][a-z0-9_]*(\[\d+\])*)*$`)
	f.Fuzz(func(t *testing.T, line string) {
		if p := pathOf(line); p != "" && !valid.MatchString(p) {
			t.Errorf("pathOf(%q) = %q, not a JSON path", line, p)
		}
	})
}
