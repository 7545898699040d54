package web

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/dalaba/dalaba/cloud/store"
	"github.com/dalaba/dalaba/protocol"
)

const micOfferSDP = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 8 0\r\na=rtpmap:8 PCMA/8000\r\n"

func TestPaging(t *testing.T) {
	e := newEnv(t)
	e.addBox(t)
	op, viewer := e.tokens[store.RoleOperator], e.tokens[store.RoleViewer]

	// Without zones there is nothing to page.
	if code, body, _ := e.raw(t, op, "POST", "/api/v1/boxes/village-1/paging", "application/sdp", []byte(micOfferSDP), nil); code != 409 || !strings.Contains(string(body), "no zones") {
		t.Fatalf("paging a box without zones: %d %s", code, body)
	}
	for _, c := range [][2]string{
		{"/api/v1/boxes/village-1/speakers/s1", `{"driver":"rtp","addr":"192.168.1.50:5004"}`},
		{"/api/v1/boxes/village-1/zones/square", `{"speakers":["s1"]}`},
		{"/api/v1/boxes/village-1/zones/school", `{"speakers":["s1"]}`},
	} {
		if code := e.call(t, op, "PUT", c[0], c[1], nil); code != 200 {
			t.Fatalf("PUT %s: %d", c[0], code)
		}
	}

	// The offer goes to the box as a signed command with the zones and
	// who speaks; the answer comes back with the law it chose.
	e.dl.res = &protocol.CommandResult{V: 1, ID: "c", BoxID: "village-1", OK: true,
		Data: json.RawMessage(`{"session":"p-1","answer":"v=0\r\nanswer","codec":"PCMA"}`)}
	code, body, hdr := e.raw(t, op, "POST", "/api/v1/boxes/village-1/paging?zones=square,school", "application/sdp", []byte(micOfferSDP), nil)
	if code != 201 || string(body) != "v=0\r\nanswer" || hdr.Get("Location") != "/api/v1/boxes/village-1/paging/p-1" || hdr.Get(codecHeader) != "PCMA" {
		t.Fatalf("page: %d %q %v", code, body, hdr)
	}
	last := e.dl.sent[len(e.dl.sent)-1]
	if !strings.Contains(last, protocol.CmdPage) || !strings.Contains(last, `"pager":"operator"`) || !strings.Contains(last, `"zones":["square","school"]`) {
		t.Fatalf("command sent: %s", last)
	}
	if code, _, _ := e.raw(t, op, "DELETE", "/api/v1/boxes/village-1/paging/p-1", "", nil, nil); code != 200 || !strings.Contains(e.dl.sent[len(e.dl.sent)-1], protocol.CmdPageStop) {
		t.Fatalf("hang up: %d", code)
	}

	n := len(e.dl.sent)
	for _, c := range []struct {
		name, token, path, ctype, body string
		want                           int
	}{
		{"a viewer may not page", viewer, "/api/v1/boxes/village-1/paging", "application/sdp", micOfferSDP, 403},
		{"not SDP", op, "/api/v1/boxes/village-1/paging", "application/json", micOfferSDP, 415},
		{"garbage", op, "/api/v1/boxes/village-1/paging", "application/sdp", "hello", 400},
		{"unknown zone", op, "/api/v1/boxes/village-1/paging?zones=market", "application/sdp", micOfferSDP, 404},
		{"bad zone id", op, "/api/v1/boxes/village-1/paging?zones=../x", "application/sdp", micOfferSDP, 400},
		{"zone twice", op, "/api/v1/boxes/village-1/paging?zones=square,square", "application/sdp", micOfferSDP, 400},
		{"unknown box", op, "/api/v1/boxes/nowhere/paging", "application/sdp", micOfferSDP, 404},
		{"too long", op, "/api/v1/boxes/village-1/paging", "application/sdp", "v=0" + strings.Repeat("a", protocol.MaxSDP), 413},
	} {
		if code, body, _ := e.raw(t, c.token, "POST", c.path, c.ctype, []byte(c.body), nil); code != c.want {
			t.Errorf("%s: %d %s, want %d", c.name, code, body, c.want)
		}
	}
	if len(e.dl.sent) != n {
		t.Errorf("refused offers sent %d commands", len(e.dl.sent)-n)
	}
	// The box refusing (the zone is being paged already) is a clear 409.
	e.dl.res = &protocol.CommandResult{V: 1, ID: "c", BoxID: "village-1", OK: false, Error: "zone square is being paged"}
	if code, body, _ := e.raw(t, op, "POST", "/api/v1/boxes/village-1/paging?zones=square", "application/sdp", []byte(micOfferSDP), nil); code != 409 || !strings.Contains(string(body), "being paged") {
		t.Fatalf("refused page: %d %s", code, body)
	}
}
