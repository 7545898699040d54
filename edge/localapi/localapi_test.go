package localapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestEvents(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "edge.sock")
	var mu sync.Mutex
	var stored []Event
	next := uint64(0)
	s, err := New(sock, Deps{
		Append: func(_ context.Context, e Event) (uint64, error) {
			mu.Lock()
			defer mu.Unlock()
			if e.Type == "fail.me" {
				return 0, errors.New("disk on fire")
			}
			next++
			stored = append(stored, e)
			return next, nil
		},
		Status: func() any { return map[string]string{"box_id": "village-1"} },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() { done <- s.Run(ctx) }()
	cl := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	call := func(method, path, body string) (int, string) {
		deadline := time.Now().Add(5 * time.Second)
		for {
			req, _ := http.NewRequest(method, "http://box"+path, strings.NewReader(body))
			resp, err := cl.Do(req)
			if err != nil {
				if time.Now().After(deadline) {
					t.Fatal(err)
				}
				time.Sleep(5 * time.Millisecond) // the socket is not up yet
				continue
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			return resp.StatusCode, string(b)
		}
	}
	if code, body := call("GET", "/v1/status", ""); code != 200 || !strings.Contains(body, "village-1") {
		t.Fatalf("status: %d %s", code, body)
	}
	code, body := call("POST", "/v1/events", `[{"type":"a","priority":1},{"type":"b","priority":2,"data":{"x":1}}]`)
	var out struct{ Seqs []uint64 }
	if code != 200 || json.Unmarshal([]byte(body), &out) != nil || len(out.Seqs) != 2 {
		t.Fatalf("append: %d %s", code, body)
	}
	if code, _ := call("POST", "/v1/events", `{"type":"single","priority":0}`); code != 200 {
		t.Fatalf("single object: %d", code)
	}
	bad := []string{
		`[{"type":"ok","priority":1},{"type":"","priority":1}]`,
		`[{"type":"ok","priority":1},{"type":"x","priority":9}]`,
		`{"type":"x","priority":1,"data":"not-an-object`,
		`[]`,
		`"hello"`,
	}
	for _, b := range bad {
		if code, body := call("POST", "/v1/events", b); code != 400 || !strings.Contains(body, "error") {
			t.Errorf("%s: %d %s, want 400", b, code, body)
		}
	}
	mu.Lock()
	if len(stored) != 3 {
		t.Errorf("%d events stored; bad requests must store nothing", len(stored))
	}
	mu.Unlock()
	if code, _ := call("POST", "/v1/events", `{"type":"fail.me","priority":1}`); code != 503 {
		t.Errorf("a failed append answered %d, want 503", code)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
