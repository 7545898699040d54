package localapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dalaba/dalaba/edge/clock"
	"github.com/dalaba/dalaba/edge/outbox"
	"github.com/dalaba/dalaba/edge/store"
	"github.com/dalaba/dalaba/protocol"
)

// api is a local API over a real outbox in a real bbolt file.
type api struct {
	ob     *outbox.Outbox
	sock   string
	client *http.Client
	fail   string // an event type whose append fails
}

func startAPI(t *testing.T) *api {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(filepath.Join(dir, "edge.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ob, err := outbox.New(st.DB(), outbox.Config{}, outbox.Deps{Clock: clock.Real()})
	if err != nil {
		t.Fatal(err)
	}
	a := &api{ob: ob, sock: filepath.Join(dir, "api.sock"), fail: "fail.me"}
	s, err := New(a.sock, Deps{
		// As the box does, with a failure from the first event of type
		// a.fail on.
		Append: func(ctx context.Context, evs []Event) ([]uint64, error) {
			var es []outbox.Entry
			for _, e := range evs {
				if e.Type == a.fail {
					break
				}
				es = append(es, outbox.Entry{Type: e.Type, Priority: e.Priority, Data: e.Data})
			}
			seqs, err := ob.AppendAll(ctx, es)
			seqs = append(seqs, make([]uint64, len(evs)-len(es))...)
			if err == nil && len(es) < len(evs) {
				err = errors.New("disk on fire")
			}
			return seqs, err
		},
		Status: func() Status {
			s := ob.Stats()
			return Status{BoxID: "village-1", Version: "test", Connected: true, AppliedRev: 7,
				Outbox: OutboxStatus{Backlog: s.Backlog, Bytes: s.Bytes, FirstSeq: s.FirstSeq, LastSeq: s.LastSeq}}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	// The API stops before the outbox, as in the box.
	obCtx, stopOutbox := context.WithCancel(context.Background())
	obDone := make(chan error, 1)
	go func() { obDone <- ob.Run(obCtx) }()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		if _, err := os.Stat(a.sock); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("socket left behind: %v", err)
		}
		stopOutbox()
		<-obDone
		st.Close()
	})
	select {
	case <-s.Ready():
	case err := <-done:
		t.Fatalf("Run: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("not ready")
	}
	a.client = &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", a.sock)
	}}}
	return a
}

func (a *api) call(t *testing.T, method, path, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, "http://box"+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := a.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// stored returns every event in the outbox.
func (a *api) stored(t *testing.T) []protocol.Event {
	t.Helper()
	b, err := a.ob.Read(0, 1<<20, 1<<30)
	evs := b.Events
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

func TestPostedEventsAreInTheOutboxWhenAnswered(t *testing.T) {
	a := startAPI(t)
	code, body := a.call(t, "POST", "/v1/events", `[{"type":"sensor.fault","priority":3,"data":{"sensor":"door"}},{"type":"sensor.ok","priority":1}]`)
	var out struct{ Seqs []uint64 }
	if code != 200 || json.Unmarshal(body, &out) != nil || len(out.Seqs) != 2 {
		t.Fatalf("append: %d %s", code, body)
	}
	code, body = a.call(t, "POST", "/v1/events", ` {"type":"single","priority":0} `)
	var one struct{ Seqs []uint64 }
	if code != 200 || json.Unmarshal(body, &one) != nil || len(one.Seqs) != 1 {
		t.Fatalf("a single object: %d %s", code, body)
	}
	bySeq := map[uint64]protocol.Event{}
	for _, e := range a.stored(t) {
		bySeq[e.Seq] = e
	}
	want := map[uint64]string{out.Seqs[0]: "", out.Seqs[1]: "", one.Seqs[0]: ""}
	if len(want) != 3 || len(bySeq) != 3 {
		t.Fatalf("seqs %v %v, stored %v", out.Seqs, one.Seqs, bySeq)
	}
	for seq := range want {
		if _, ok := bySeq[seq]; !ok {
			t.Errorf("seq %d answered but not in the outbox", seq)
		}
	}
	// The answer's seqs follow the request's order.
	if e := bySeq[out.Seqs[0]]; e.Type != "sensor.fault" || e.Priority != protocol.PriorityCritical || string(e.Data) != `{"sensor":"door"}` {
		t.Errorf("first event stored as %+v", e)
	}
	if e := bySeq[out.Seqs[1]]; e.Type != "sensor.ok" || len(e.Data) != 0 {
		t.Errorf("second event stored as %+v", e)
	}
}

func TestAnEventsOrderIsKept(t *testing.T) {
	a := startAPI(t)
	const n = 200
	evs := make([]string, n)
	for i := range evs {
		evs[i] = fmt.Sprintf(`{"type":"step","priority":1,"data":{"i":%d}}`, i)
	}
	code, body := a.call(t, "POST", "/v1/events", "["+strings.Join(evs, ",")+"]")
	var out struct{ Seqs []uint64 }
	if code != 200 || json.Unmarshal(body, &out) != nil || len(out.Seqs) != n {
		t.Fatalf("append: %d %.200s", code, body)
	}
	for i := 1; i < n; i++ {
		if out.Seqs[i] <= out.Seqs[i-1] {
			t.Fatalf("seqs %v: event %d stored before event %d", out.Seqs, i, i-1)
		}
	}
	// Read back in seq order, they are in the request's order.
	stored := a.stored(t)
	if len(stored) != n {
		t.Fatalf("%d stored", len(stored))
	}
	for i, e := range stored {
		if want := fmt.Sprintf(`{"i":%d}`, i); string(e.Data) != want || e.Seq != out.Seqs[i] {
			t.Fatalf("seq %d holds %s, want %s at seq %d", e.Seq, e.Data, want, out.Seqs[i])
		}
	}
}

func TestAThousandEventsInOneRequest(t *testing.T) {
	a := startAPI(t)
	evs := make([]string, MaxEvents)
	for i := range evs {
		evs[i] = fmt.Sprintf(`{"type":"bulk","priority":1,"data":{"i":%d}}`, i)
	}
	code, body := a.call(t, "POST", "/v1/events", "["+strings.Join(evs, ",")+"]")
	var out struct{ Seqs []uint64 }
	if code != 200 || json.Unmarshal(body, &out) != nil || len(out.Seqs) != MaxEvents {
		t.Fatalf("append: %d %.200s", code, body)
	}
	stored := a.stored(t)
	if len(stored) != MaxEvents {
		t.Fatalf("%d stored", len(stored))
	}
	seen := map[uint64]bool{}
	for _, s := range out.Seqs {
		seen[s] = true
	}
	for _, e := range stored {
		if !seen[e.Seq] {
			t.Errorf("stored seq %d was not answered", e.Seq)
		}
	}
	if code, body := a.call(t, "POST", "/v1/events", "["+strings.Join(append(evs, evs[0]), ",")+"]"); code != 400 || !strings.Contains(string(body), "1-1000") {
		t.Errorf("1001 events: %d %s", code, body)
	}
}

func TestBadRequestsAppendNothing(t *testing.T) {
	a := startAPI(t)
	big := `{"type":"x","priority":1,"data":{"s":"` + strings.Repeat("a", protocol.MaxEventDataLen) + `"}}`
	cases := []struct {
		name, body, want string
	}{
		{"one bad among good", `[{"type":"ok","priority":1},{"type":"","priority":1}]`, "event 1"},
		{"priority out of range", `[{"type":"ok","priority":1},{"type":"x","priority":9}]`, "priority 9"},
		{"no priority", `{"type":"x"}`, "no priority"},
		{"misspelt field", `{"type":"x","prioriy":3}`, "prioriy"},
		{"cut short", `{"type":"x","priority":1,"data":"not-an-object`, "bad JSON"},
		{"data not an object", `{"type":"x","priority":1,"data":[1,2]}`, "object"},
		{"data too large", big, "data is"},
		{"empty array", `[]`, "1-1000"},
		{"a string", `"hello"`, "want a JSON event"},
		{"empty body", ``, "want a JSON event"},
		{"trailing data", `{"type":"x","priority":1} {}`, "trailing"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, body := a.call(t, "POST", "/v1/events", c.body)
			var e struct{ Error string }
			if code != 400 || json.Unmarshal(body, &e) != nil || !strings.Contains(e.Error, c.want) {
				t.Errorf("%d %s, want 400 with an error mentioning %q", code, body, c.want)
			}
		})
	}
	if n := len(a.stored(t)); n != 0 {
		t.Errorf("%d events stored by bad requests", n)
	}
	if code, _ := a.call(t, "GET", "/v1/events", ""); code != http.StatusMethodNotAllowed {
		t.Errorf("GET /v1/events: %d", code)
	}
}

func TestAFailedAppendIsA503WithWhatWasStored(t *testing.T) {
	a := startAPI(t)
	code, body := a.call(t, "POST", "/v1/events", `[{"type":"ok","priority":1},{"type":"fail.me","priority":1}]`)
	var out struct {
		Error string
		Seqs  []uint64
	}
	if code != 503 || json.Unmarshal(body, &out) != nil || !strings.Contains(out.Error, "disk on fire") {
		t.Fatalf("%d %s", code, body)
	}
	if len(out.Seqs) != 2 || out.Seqs[0] == 0 || out.Seqs[1] != 0 {
		t.Errorf("seqs %v, want the stored one's and 0", out.Seqs)
	}
}

func TestStatus(t *testing.T) {
	a := startAPI(t)
	if code, body := a.call(t, "POST", "/v1/events", `{"type":"a","priority":1}`); code != 200 {
		t.Fatalf("append: %d %s", code, body)
	}
	code, body := a.call(t, "GET", "/v1/status", "")
	var got map[string]any
	if code != 200 || json.Unmarshal(body, &got) != nil {
		t.Fatalf("%d %s", code, body)
	}
	want := `{"applied_rev":7,"box_id":"village-1","connected":true,"outbox":{"backlog":1,"bytes":`
	if b, _ := json.Marshal(got); !strings.HasPrefix(string(b), want) || !strings.Contains(string(b), `"first_seq":1,"last_seq":1},"version":"test"}`) {
		t.Errorf("status %s", b)
	}
}

func TestSocketIsGroupOnlyAndAStaleOneIsReplaced(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "edge.sock")
	if err := os.WriteFile(sock, nil, 0o600); err != nil { // left by a crash
		t.Fatal(err)
	}
	s, err := New(sock, Deps{Append: func(context.Context, []Event) ([]uint64, error) { return []uint64{1}, nil }, Status: func() Status { return Status{} }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	select {
	case <-s.Ready():
	case err := <-done:
		t.Fatalf("Run: %v", err)
	}
	fi, err := os.Stat(sock)
	if err != nil || fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o660 {
		t.Errorf("socket %v mode %v, want a socket with 0660", err, fi.Mode())
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestNewReportsEveryProblem(t *testing.T) {
	_, err := New("", Deps{})
	for _, want := range []string{"no socket path", "no append", "no status"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not mention %q", err, want)
		}
	}
}
