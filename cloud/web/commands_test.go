package web

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dalaba/dalaba/cloud/downlink"
	"github.com/dalaba/dalaba/cloud/store"
)

// Every command the API sends lives CommandLifetime, and the API waits for
// its result that long plus the result's transit: a box that carries a
// command out at the last moment is answered as done, not 504, so nobody
// sends it again.
func TestCommandsAreAwaitedForTheirLifetimeAndTheTransit(t *testing.T) {
	e := newEnv(t)
	e.addBox(t)
	op := e.tokens[store.RoleOperator]
	clip := e.upload(t, "clip.wav", wavBytes(t, 1))
	routes := []struct{ method, path, body string }{
		{"POST", "/api/v1/boxes/village-1/commands", `{"type":"ping"}`},
		{"POST", "/api/v1/boxes/village-1/play", fmt.Sprintf(`{"media":[%q]}`, clip.SHA256)},
		{"POST", "/api/v1/boxes/village-1/stop", `{}`},
		{"POST", "/api/v1/boxes/village-1/volume", `{"zone":"all","volume":40}`},
		{"DELETE", "/api/v1/boxes/village-1/cameras/gate/whep/s1", ``},
		{"DELETE", "/api/v1/boxes/village-1/paging/s1", ``},
	}
	for _, rt := range routes {
		e.dl.mu.Lock()
		e.dl.sent, e.dl.waits = nil, nil
		e.dl.mu.Unlock()
		if code, body, _ := e.raw(t, op, rt.method, rt.path, "application/json", []byte(rt.body), nil); code != 200 {
			t.Fatalf("%s %s: %d %s", rt.method, rt.path, code, body)
		}
		e.dl.mu.Lock()
		sent, waits := e.dl.sent, e.dl.waits
		e.dl.mu.Unlock()
		if len(sent) != 1 || !strings.HasSuffix(sent[0], " "+CommandLifetime.String()) {
			t.Errorf("%s %s sent %q, want a lifetime of %s", rt.method, rt.path, sent, CommandLifetime)
		}
		// The request's own time has passed from the wait; a second is
		// more than a test request takes.
		if want := CommandLifetime + downlink.ResultGrace; len(waits) != 1 || waits[0] > want || waits[0] < want-time.Second {
			t.Errorf("%s %s waited %v for the result, want %s (the lifetime and the transit)", rt.method, rt.path, waits, want)
		}
	}
}

// A box that got the command after its lifetime refuses it as expired: the
// official is told so, in a 504, and that nothing was done.
func TestACommandThatReachedTheBoxTooLateIs504(t *testing.T) {
	e := newEnv(t)
	e.addBox(t)
	e.dl.mu.Lock()
	e.dl.err = fmt.Errorf("downlink: command c1 (broadcast.stop) to village-1: %w (the command expired before the box carried it out)", downlink.ErrExpired)
	e.dl.mu.Unlock()
	code, body, _ := e.raw(t, e.tokens[store.RoleOperator], "POST", "/api/v1/boxes/village-1/stop", "application/json", []byte(`{}`), nil)
	var out struct{ Error string }
	if code != 504 || json.Unmarshal(body, &out) != nil || !strings.Contains(out.Error, "after its lifetime") || !strings.Contains(out.Error, "nothing was done") {
		t.Errorf("%d %s, want 504 saying the box got it too late", code, body)
	}
}
