package console

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dalaba/dalaba/cloud/auth"
	"github.com/dalaba/dalaba/cloud/store"
	"github.com/dalaba/dalaba/protocol"
)

// A box that came back with an empty data directory begins a new
// incarnation of its log: the event log names the reset in words and keeps
// both lives' events, and the dashboard reads the box's state from the new
// life.
func TestEventLogShowsABoxReset(t *testing.T) {
	e := newEnv(t, false)
	ctx := t.Context()
	now := time.Now()
	send := func(epoch string, seq uint64, typ string) {
		t.Helper()
		b := store.Batch{Epoch: epoch, Floor: seq, ReceivedAt: now, Events: []store.Event{{Seq: seq, Time: now, Type: typ, Priority: 2, Data: []byte(`{}`)}}}
		if _, err := e.st.AppendEvents(ctx, "village-1", b); err != nil {
			t.Fatal(err)
		}
	}
	send("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 2, protocol.EventBoxStarted)
	send("bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", 1, protocol.EventBoxStarted)
	c, _ := e.signedIn(t, store.RoleViewer)
	for lang, label := range map[string]string{"zh": "广播盒数据重置", "en": "Box data reset"} {
		a := e.get(t, c, eventsPath(url.Values{"type": {protocol.EventBoxReset}, "lang": {lang}}))
		if a.code != http.StatusOK || !slices.Equal(logRows(a.body), []string{"village-1#0"}) || !strings.Contains(a.body, label) {
			t.Fatalf("%s: status %d, rows %v, want the reset as %q:\n%s", lang, a.code, logRows(a.body), label, a.body)
		}
	}
	a := e.get(t, c, eventsPath(url.Values{"box": {"village-1"}}))
	if got, want := logRows(a.body), []string{"village-1#1", "village-1#0", "village-1#2", "village-1#1"}; !slices.Equal(got, want) {
		t.Fatalf("village-1's log %v, want %v: the new life's start, its reset, then the old life", got, want)
	}
	b, err := e.st.GetBox(ctx, "village-1")
	if err != nil {
		t.Fatal(err)
	}
	st, err := e.con.stateOf(withScope(ctx, auth.CountyScope()), b) // as a county user's page would
	if err != nil {
		t.Fatal(err)
	}
	// newEnv's health report was the old life's: the new one has sent none.
	if st.Health != nil || st.Clock != clockUnknown {
		t.Fatalf("the new life's state %+v, want no health report yet", st)
	}
}
