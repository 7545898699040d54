package web

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/dalaba/dalaba/cloud/poster"
	"github.com/dalaba/dalaba/cloud/tts"
	"github.com/dalaba/dalaba/internal/testenv"
)

func TestTypedAnnouncementIsSpoken(t *testing.T) {
	testenv.Tool(t, "espeak-ng", "apt-get install espeak-ng")
	speech, err := tts.NewEspeak(tts.EspeakConfig{})
	if err != nil {
		t.Fatal(err)
	}
	e := newListsEnvWith(t, speech)
	var clip mediaJSON
	e.do(t, operator1, "POST", "/api/v1/media/speech", `{"name":"防火通知","text":"各位村民请注意，近期天干物燥，请大家注意防火。"}`, 201, &clip)
	if clip.SHA256 == "" || clip.Format != "wav" || clip.DurationMS < 2000 || clip.Name != "防火通知" {
		t.Fatalf("spoken clip %+v: want a WAV of a few seconds", clip)
	}
	for _, c := range []struct {
		user, body string
		want       int
	}{
		{operator1, `{"name":"空","text":"   "}`, 400},
		{operator1, `{"name":"","text":"请注意防火。"}`, 400},
		{operator1, `{"name":"x","text":"请注意防火。","voice":"en"}`, 400},
		{viewer1, `{"name":"防火","text":"请注意防火。"}`, 403},
	} {
		e.do(t, c.user, "POST", "/api/v1/media/speech", c.body, c.want, nil)
	}
}

func TestPosterOfThePublishedList(t *testing.T) {
	e := newListsEnv(t)
	e.registers(t)
	red := e.entry(t, operator1, `{"kind":"red","subject":{"kind":"person","id":"p1"},"category":"孝老爱亲","reason":"悉心照料瘫痪的奶奶十年。","period":"2026-11"}`)
	black := e.entry(t, operator1, `{"kind":"black","subject":{"kind":"household","id":"h02"},"category":"人居环境整治","reason":"门前乱堆柴草<script>","period":"2026-11"}`)
	e.approve(t, operator1, red)
	e.approve(t, operator1, black)
	e.do(t, operator2, "POST", "/api/v1/villages/village-1/lists/2026-11/publish", "", 200, nil)

	code, body, hdr := e.raw(t, e.user[viewer1], "GET", "/api/v1/villages/village-1/lists/2026-11/poster?size=A3", "", nil, nil)
	page := string(body)
	if code != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "text/html") {
		t.Fatalf("poster: %d %s", code, hdr.Get("Content-Type"))
	}
	for _, want := range []string{"幸福村", "2026年11月", "张小明", "李秀英", "size: A3", "&lt;script&gt;"} {
		if !strings.Contains(page, want) {
			t.Errorf("poster lacks %q", want)
		}
	}
	if strings.Index(page, "张小明") > strings.Index(page, "李秀英") {
		t.Error("the black list comes before the red")
	}
	if strings.Contains(page, "<script>") {
		t.Error("a reason was not escaped")
	}
	if got := hdr.Get("Content-Security-Policy"); got != poster.CSP {
		t.Errorf("poster CSP %q, want %q", got, poster.CSP)
	}
	code, _, _ = e.raw(t, e.user[viewer1], "GET", "/api/v1/villages/village-1/lists/2026-11/poster?size=A0", "", nil, nil)
	if code != 400 {
		t.Errorf("poster in A0: %d, want 400", code)
	}
	// A period that is neither a month nor a quarter is the caller's
	// mistake: 400 naming it, and nothing for a human in the log.
	for _, period := range []string{"2026-13", "november", "2026-1"} {
		code, body, _ := e.raw(t, e.user[viewer1], "GET", "/api/v1/villages/village-1/lists/"+period+"/poster", "", nil, nil)
		var p Problem
		if code != 400 || json.Unmarshal(body, &p) != nil || p.Code != CodeBadPeriod || len(p.Fields) != 1 || p.Fields[0].Path != "period" {
			t.Errorf("poster of period %q: %d %s; want 400 lists.bad_period on the period", period, code, body)
		}
	}
	e.errs.mu.Lock()
	defer e.errs.mu.Unlock()
	if len(e.errs.msgs) != 0 {
		t.Errorf("logged at Error: %q", e.errs.msgs)
	}
	code, _, _ = e.raw(t, e.user[viewer1], "GET", fmt.Sprintf("/api/v1/villages/%s/lists/2026-11/poster", "nowhere"), "", nil, nil)
	if code != 404 {
		t.Errorf("poster of an unknown village: %d, want 404", code)
	}
}
