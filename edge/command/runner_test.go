package command

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/dalaba/dalaba/edge/clock"
	"github.com/dalaba/dalaba/edge/store"
	"github.com/dalaba/dalaba/protocol"
)

const box = "village-1"

// The tests run in synctest bubbles: the box's clock is the bubble's, so
// a command's lifetime passes as fast as the goroutines are all waiting,
// and synctest.Wait says when the runner has done all it can.

type recorded struct {
	typ  string
	prio protocol.Priority
	data []byte
}

// rig is a runner over a real store file, recording its results and
// events.
type rig struct {
	t   *testing.T
	r   *Runner
	st  *store.Store
	key ed25519.PrivateKey

	mu      sync.Mutex
	results []protocol.CommandResult
	at      map[string]time.Time // when each result came, on the bubble's clock
	events  []recorded
}

func newRig(t *testing.T, dir string, cfg Config) *rig {
	t.Helper()
	st, err := store.Open(filepath.Join(dir, "edge.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	g := &rig{t: t, st: st, key: ed25519.NewKeyFromSeed(bytes.Repeat([]byte{3}, 32)), at: map[string]time.Time{}}
	g.r, err = New(cfg, Deps{
		Clock: clock.Real(), BoxID: box, Key: g.key.Public().(ed25519.PublicKey), Store: st,
		Record: func(_ context.Context, typ string, prio protocol.Priority, data any) error {
			b, err := json.Marshal(data)
			if err != nil {
				t.Errorf("event data: %v", err)
			}
			g.mu.Lock()
			g.events = append(g.events, recorded{typ, prio, b})
			g.mu.Unlock()
			return nil
		},
		Results: func(res protocol.CommandResult) {
			g.mu.Lock()
			g.results = append(g.results, res)
			g.at[res.ID] = time.Now()
			g.mu.Unlock()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// run runs the runner until the test ends, or until the returned stop.
func (g *rig) run() (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.r.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				g.t.Errorf("Run: %v", err)
			}
		})
	}
	g.t.Cleanup(stop)
	return stop
}

func (g *rig) signed(k ed25519.PrivateKey, id, typ, args string, issued time.Time, life time.Duration) []byte {
	g.t.Helper()
	var raw json.RawMessage
	if args != "" {
		raw = json.RawMessage(args)
	}
	p, err := protocol.SignCommand(k, protocol.Command{ID: id, BoxID: box, Type: typ, IssuedAt: issued, ExpiresAt: issued.Add(life), Args: raw})
	if err != nil {
		g.t.Fatal(err)
	}
	return p
}

// send hands the runner a command issued now, living life.
func (g *rig) send(id, typ, args string, life time.Duration) {
	g.t.Helper()
	g.r.Receive(g.t.Context(), g.signed(g.key, id, typ, args, time.Now(), life))
}

// result is the one result for id, once the runner has settled.
func (g *rig) result(id string) (protocol.CommandResult, bool) {
	g.t.Helper()
	synctest.Wait()
	g.mu.Lock()
	defer g.mu.Unlock()
	var found []protocol.CommandResult
	for _, r := range g.results {
		if r.ID == id {
			found = append(found, r)
		}
	}
	if len(found) > 1 {
		g.t.Errorf("%d results for %s: %+v", len(found), id, found)
	}
	if len(found) == 0 {
		return protocol.CommandResult{}, false
	}
	return found[0], true
}

func (g *rig) mustResult(id string) protocol.CommandResult {
	g.t.Helper()
	r, ok := g.result(id)
	if !ok {
		g.t.Fatalf("no result for %s", id)
	}
	if r.V != protocol.Version || r.BoxID != box {
		g.t.Errorf("result %+v: want v %d, box %s", r, protocol.Version, box)
	}
	return r
}

func (g *rig) counts() (events, results int) {
	synctest.Wait()
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.events), len(g.results)
}

// gate is a handler that blocks until opened, counting who got through.
type gate struct {
	open    chan struct{}
	mu      sync.Mutex
	entered []string
	acted   []string
}

func newGate() *gate { return &gate{open: make(chan struct{})} }

// hold waits for the gate or the command's end, then acts if Commit lets
// it, like a play whose clip downloads.
func (g *gate) hold(ctx context.Context, c protocol.Command, _ json.RawMessage) (any, error) {
	g.mu.Lock()
	g.entered = append(g.entered, c.ID)
	g.mu.Unlock()
	select {
	case <-g.open:
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
	if err := Commit(ctx); err != nil {
		return nil, err
	}
	g.mu.Lock()
	g.acted = append(g.acted, c.ID)
	g.mu.Unlock()
	return nil, nil
}

func (g *gate) seen() (entered, acted []string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.entered...), append([]string(nil), g.acted...)
}

func TestPingAnswersWithTheBoxTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newRig(t, t.TempDir(), Config{})
		g.run()
		now := time.Now()
		g.send("c1", "ping", `{"anything":1}`, time.Minute)
		res := g.mustResult("c1")
		var data struct{ Pong time.Time }
		if !res.OK || res.Code != "" || json.Unmarshal(res.Data, &data) != nil || !data.Pong.Equal(now) {
			t.Errorf("ping result %+v (%s)", res, res.Data)
		}
		if ev, _ := g.counts(); ev != 0 {
			t.Errorf("a good command recorded %d events", ev)
		}
	})
}

// Arguments are decoded strictly and validated once, by the runner: a
// handler only ever sees arguments that are valid for its type.
func TestArgumentsAreDecodedAndValidatedBeforeTheHandler(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newRig(t, t.TempDir(), Config{})
		var got []protocol.VolumeArgs
		Register(g.r, protocol.CmdVolume, Control, func(_ context.Context, _ protocol.Command, a protocol.VolumeArgs) (any, error) {
			got = append(got, a)
			return nil, nil
		})
		g.run()
		cases := []struct {
			id, args string
			code     string
			errHas   string
		}{
			{"good", `{"zone":"square","volume":40}`, "", ""},
			{"wrong-type", `{"zone":5,"volume":40}`, protocol.CodeInvalidArgs, "arguments"},
			{"unknown-field", `{"zone":"square","volume":40,"loud":true}`, protocol.CodeInvalidArgs, "unknown field"},
			{"invalid", `{"zone":"square","volume":101}`, protocol.CodeInvalidArgs, "volume 101"},
			{"none", ``, protocol.CodeInvalidArgs, "zone"},
		}
		for _, c := range cases {
			g.send(c.id, protocol.CmdVolume, c.args, time.Minute)
			res := g.mustResult(c.id)
			if res.OK != (c.code == "") || res.Code != c.code || !strings.Contains(res.Error, c.errHas) {
				t.Errorf("%s: result %+v, want code %q and an error with %q", c.id, res, c.code, c.errHas)
			}
		}
		if len(got) != 1 || got[0] != (protocol.VolumeArgs{Zone: "square", Volume: 40}) {
			t.Errorf("the handler saw %+v, want only the good arguments", got)
		}
	})
}

func TestUnknownCommandIsAnsweredAndRecorded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newRig(t, t.TempDir(), Config{})
		g.run()
		g.send("c3", "self-destruct", "", time.Minute)
		res := g.mustResult("c3")
		if res.OK || res.Code != protocol.CodeUnknownCommand || !strings.Contains(res.Error, `"self-destruct"`) {
			t.Errorf("result %+v", res)
		}
		if rej := g.lastRejection(t, 0); rej.Reason != ReasonUnknownCommand || rej.ID != "c3" {
			t.Errorf("rejection %+v", rej)
		}
	})
}

// lastRejection returns the one event recorded since n events, which must
// be a critical cmd.rejected.
func (g *rig) lastRejection(t *testing.T, n int) protocol.Rejected {
	t.Helper()
	synctest.Wait()
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.events) != n+1 {
		t.Fatalf("%d events recorded, want 1", len(g.events)-n)
	}
	e := g.events[n]
	var rej protocol.Rejected
	if err := json.Unmarshal(e.data, &rej); err != nil || e.typ != protocol.EventCmdRejected || e.prio != protocol.PriorityCritical {
		t.Fatalf("event %s prio %d %s, want a critical %s", e.typ, e.prio, e.data, protocol.EventCmdRejected)
	}
	if rej.Topic != protocol.Topic(box, protocol.KindCmd) {
		t.Errorf("rejection on topic %q", rej.Topic)
	}
	return rej
}

func TestBadCommandsAreRefusedAndNotRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newRig(t, t.TempDir(), Config{})
		runs := 0
		Register(g.r, "play", Control, func(context.Context, protocol.Command, json.RawMessage) (any, error) { runs++; return nil, nil })
		g.run()
		now := time.Now()
		g.send("c1", "play", "", time.Minute)
		if res := g.mustResult("c1"); !res.OK || runs != 1 {
			t.Fatalf("the good command: %+v, %d runs", res, runs)
		}
		sealRaw := func(k protocol.Kind, body any) []byte {
			raw, err := json.Marshal(body)
			if err != nil {
				t.Fatal(err)
			}
			msg := append([]byte("dalaba/v1/"+string(k)+"\n"+box+"\n"), raw...)
			p, err := json.Marshal(protocol.Envelope{V: protocol.Version, Body: raw, Sig: ed25519.Sign(g.key, msg)})
			if err != nil {
				t.Fatal(err)
			}
			return p
		}
		good := protocol.Command{V: 1, ID: "c9", BoxID: box, Type: "play", IssuedAt: now, ExpiresAt: now.Add(time.Minute)}
		otherBox := good
		otherBox.BoxID = "village-2"
		tooLong := good
		tooLong.ExpiresAt = now.Add(time.Hour)
		cases := []struct {
			name    string
			payload []byte
			reason  string
			id      string // of the rejection, and of the result when the command is answered
			code    string // of the result; "" when it gets none
		}{
			{"replayed", g.signed(g.key, "c1", "play", "", now, time.Minute), protocol.ReasonReplay, "c1", ""},
			{"signed by another key", g.signed(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{8}, 32)), "c3", "play", "", now, time.Minute), protocol.ReasonBadSignature, "", ""},
			{"expired on arrival", g.signed(g.key, "c5", "play", "", now.Add(-time.Hour), time.Minute), protocol.ReasonExpired, "c5", protocol.CodeExpired},
			{"naming another box", sealRaw(protocol.KindCmd, otherBox), protocol.ReasonWrongBox, "", ""},
			{"living too long", sealRaw(protocol.KindCmd, tooLong), protocol.ReasonInvalid, "", ""},
			{"a desired state's signature", sealRaw(protocol.KindDesired, good), protocol.ReasonBadSignature, "", ""},
			{"not JSON", []byte("garbage"), protocol.ReasonMalformed, "", ""},
			{"newer schema", []byte(`{"v":2}`), protocol.ReasonVersion, "", ""},
			{"oversized", make([]byte, protocol.KindCmd.MaxPayload()+1), protocol.ReasonTooLarge, "", ""},
		}
		// No subtests: t.Run cannot be called in a bubble.
		for _, c := range cases {
			ev, results := g.counts()
			g.r.Receive(t.Context(), c.payload)
			rej := g.lastRejection(t, ev)
			if rej.Reason != c.reason || rej.ID != c.id {
				t.Errorf("%s: rejection %+v, want reason %q id %q", c.name, rej, c.reason, c.id)
			}
			_, results2 := g.counts()
			switch {
			case c.code == "" && results2 != results:
				t.Errorf("%s: answered a command whose id cannot be trusted or was run already", c.name)
			case c.code != "":
				if res, ok := g.result(c.id); !ok || res.Code != c.code || res.OK {
					t.Errorf("%s: result %+v, want code %s", c.name, res, c.code)
				}
			}
			if runs != 1 {
				t.Errorf("%s: a refused command ran", c.name)
			}
		}
	})
}

// A command id is remembered on disk before the command runs, so the same
// command delivered again after a restart is refused, not run twice.
func TestCommandsAreIdempotentAcrossRestarts(t *testing.T) {
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		runs := 0
		start := func() (*rig, func()) {
			g := newRig(t, dir, Config{})
			Register(g.r, protocol.CmdStop, Control, func(context.Context, protocol.Command, protocol.StopArgs) (any, error) { runs++; return nil, nil })
			return g, g.run()
		}
		g, stop := start()
		payload := g.signed(g.key, "stop-1", protocol.CmdStop, "", time.Now(), time.Minute)
		g.r.Receive(t.Context(), payload)
		if res := g.mustResult("stop-1"); !res.OK {
			t.Fatalf("first delivery: %+v", res)
		}
		stop()
		g.st.Close()

		g2, _ := start()
		g2.r.Receive(t.Context(), payload)
		if rej := g2.lastRejection(t, 0); rej.Reason != protocol.ReasonReplay || rej.ID != "stop-1" {
			t.Errorf("redelivery after the restart: %+v", rej)
		}
		if runs != 1 {
			t.Errorf("the command ran %d times", runs)
		}
	})
}

// A stop and an emergency never wait behind slow work: with the slow lane
// busy, control commands run at once.
func TestControlNeverWaitsBehindSlowCommands(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newRig(t, t.TempDir(), Config{MaxSlow: 2})
		slow := newGate()
		Register(g.r, "download", Slow, slow.hold)
		var stops []string
		Register(g.r, protocol.CmdStop, Control, func(_ context.Context, c protocol.Command, _ protocol.StopArgs) (any, error) {
			stops = append(stops, c.ID)
			return nil, nil
		})
		g.run()
		g.send("d1", "download", "", time.Minute)
		g.send("d2", "download", "", time.Minute)
		g.send("s1", protocol.CmdStop, "", time.Minute)
		if res := g.mustResult("s1"); !res.OK || len(stops) != 1 {
			t.Fatalf("the stop behind two slow commands: %+v, ran %v", res, stops)
		}
		if _, ok := g.result("d1"); ok {
			t.Fatal("a held slow command answered")
		}
		// The slow lane is full: a third is refused at once, not queued.
		g.send("d3", "download", "", time.Minute)
		if res := g.mustResult("d3"); res.OK || res.Code != protocol.CodeBusy {
			t.Errorf("a slow command beyond the limit: %+v, want busy", res)
		}
		close(slow.open)
		for _, id := range []string{"d1", "d2"} {
			if res := g.mustResult(id); !res.OK {
				t.Errorf("%s: %+v", id, res)
			}
		}
		if entered, _ := slow.seen(); len(entered) != 2 {
			t.Errorf("slow handlers entered %v", entered)
		}
		// The slots are free again.
		g.send("d4", "download", "", time.Minute)
		if res := g.mustResult("d4"); !res.OK {
			t.Errorf("after the slots freed: %+v", res)
		}
	})
}

// Urgent commands neither wait for nor take a slow slot.
func TestUrgentCommandsAreNeverRefused(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newRig(t, t.TempDir(), Config{MaxSlow: 1})
		slow := newGate()
		Register(g.r, "download", Slow, slow.hold)
		urgent := newGate()
		Register(g.r, "emergency", Urgent, urgent.hold)
		g.run()
		g.send("d1", "download", "", time.Minute)
		g.send("e1", "emergency", "", time.Minute)
		g.send("e2", "emergency", "", time.Minute)
		synctest.Wait()
		if entered, _ := urgent.seen(); len(entered) != 2 {
			t.Fatalf("urgent handlers running: %v, want both beside the full slow lane", entered)
		}
		close(urgent.open)
		for _, id := range []string{"e1", "e2"} {
			if res := g.mustResult(id); !res.OK {
				t.Errorf("%s: %+v", id, res)
			}
		}
		close(slow.open)
		if res := g.mustResult("d1"); !res.OK {
			t.Errorf("d1: %+v", res)
		}
	})
}

// The lane of a command may follow from its arguments.
func TestRouteChoosesTheLaneFromTheArguments(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newRig(t, t.TempDir(), Config{MaxSlow: 1})
		gates := map[string]*gate{}
		RegisterRouted(g.r, protocol.CmdPlay,
			func(a protocol.PlayArgs) Lane {
				if a.Priority == protocol.PlayEmergency {
					return Control
				}
				return Slow
			},
			func(ctx context.Context, c protocol.Command, a protocol.PlayArgs) (any, error) {
				if a.Priority == protocol.PlayEmergency {
					return protocol.PlayResult{ItemID: "now-" + c.ID}, nil
				}
				return gates["slow"].hold(ctx, c, nil)
			})
		gates["slow"] = newGate()
		g.run()
		sha := strings.Repeat("ab", 32)
		g.send("p1", protocol.CmdPlay, `{"media":["`+sha+`"]}`, time.Minute)
		g.send("p2", protocol.CmdPlay, `{"media":["`+sha+`"]}`, time.Minute)
		g.send("e1", protocol.CmdPlay, `{"media":["`+sha+`"],"priority":"emergency"}`, time.Minute)
		if res := g.mustResult("p2"); res.Code != protocol.CodeBusy {
			t.Errorf("a second slow play with one slot: %+v", res)
		}
		res := g.mustResult("e1")
		if !res.OK || string(res.Data) != `{"item_id":"now-e1"}` {
			t.Errorf("the emergency on the control lane: %+v (%s)", res, res.Data)
		}
		close(gates["slow"].open)
		if res := g.mustResult("p1"); !res.OK {
			t.Errorf("p1: %+v", res)
		}
	})
}

// A command that waits on the control lane past its expiry is never
// started, and says so.
func TestCommandExpiringWhileQueuedIsNotRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newRig(t, t.TempDir(), Config{})
		busy := newGate()
		Register(g.r, "hang-up", Control, busy.hold) // a control handler slower than it should be
		stops := 0
		Register(g.r, protocol.CmdStop, Control, func(context.Context, protocol.Command, protocol.StopArgs) (any, error) { stops++; return nil, nil })
		g.run()
		g.send("h1", "hang-up", "", time.Minute)
		g.send("s1", protocol.CmdStop, "", 5*time.Second)
		time.Sleep(10 * time.Second) // s1's lifetime passes while it waits behind h1
		close(busy.open)
		if res := g.mustResult("s1"); res.OK || res.Code != protocol.CodeExpired || !strings.Contains(res.Error, "expired") {
			t.Errorf("the stop that expired in the queue: %+v", res)
		}
		if stops != 0 {
			t.Errorf("an expired stop ran")
		}
		if res := g.mustResult("h1"); !res.OK {
			t.Errorf("h1: %+v", res)
		}
	})
}

// A command whose lifetime ends while it runs (a play whose clip is still
// downloading) has its context cancelled with ErrExpired, is not carried
// out, and is answered expired.
func TestCommandExpiringWhileRunningIsNotCarriedOut(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newRig(t, t.TempDir(), Config{})
		var cause error
		acted := false
		Register(g.r, "download", Slow, func(ctx context.Context, _ protocol.Command, _ json.RawMessage) (any, error) {
			<-ctx.Done() // the download that never answers
			cause = context.Cause(ctx)
			if err := Commit(ctx); err != nil {
				return nil, err
			}
			acted = true
			return nil, nil
		})
		g.run()
		issued := time.Now()
		g.send("d1", "download", "", 3*time.Second)
		time.Sleep(time.Minute)
		res := g.mustResult("d1")
		if res.OK || res.Code != protocol.CodeExpired {
			t.Errorf("result %+v, want expired", res)
		}
		if !errors.Is(cause, ErrExpired) || acted {
			t.Errorf("handler's context ended with %v; acted %v", cause, acted)
		}
		g.mu.Lock()
		took := g.at["d1"].Sub(issued)
		g.mu.Unlock()
		if took != 3*time.Second {
			t.Errorf("answered after %s, want at the expiry (3s)", took)
		}
	})
}

// A handler that ignores its context and returns after the expiry without
// having committed is reported expired, not as a success; one that
// committed in time is reported as it returns.
func TestResultAfterExpiryDependsOnTheCommit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newRig(t, t.TempDir(), Config{})
		Register(g.r, "late", Slow, func(context.Context, protocol.Command, json.RawMessage) (any, error) {
			time.Sleep(2 * time.Second)
			return "done", nil
		})
		Register(g.r, "committed", Slow, func(ctx context.Context, _ protocol.Command, _ json.RawMessage) (any, error) {
			if err := Commit(ctx); err != nil {
				return nil, err
			}
			time.Sleep(2 * time.Second) // acting took a moment past the expiry
			return "done", nil
		})
		g.run()
		g.send("l1", "late", "", time.Second)
		g.send("c1", "committed", "", time.Second)
		time.Sleep(time.Minute)
		if res := g.mustResult("l1"); res.OK || res.Code != protocol.CodeExpired {
			t.Errorf("uncommitted result after the expiry: %+v", res)
		}
		if res := g.mustResult("c1"); !res.OK || string(res.Data) != `"done"` {
			t.Errorf("committed in time: %+v", res)
		}
	})
}

func TestHandlerErrorsAreFailures(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newRig(t, t.TempDir(), Config{})
		Register(g.r, "fail", Control, func(context.Context, protocol.Command, json.RawMessage) (any, error) {
			return nil, errors.New("speaker 3 is unplugged")
		})
		Register(g.r, "unencodable", Control, func(context.Context, protocol.Command, json.RawMessage) (any, error) {
			return func() {}, nil
		})
		g.run()
		g.send("f1", "fail", "", time.Minute)
		g.send("u1", "unencodable", "", time.Minute)
		if res := g.mustResult("f1"); res.OK || res.Code != protocol.CodeFailed || res.Error != "speaker 3 is unplugged" {
			t.Errorf("failing handler: %+v", res)
		}
		if res := g.mustResult("u1"); res.OK || res.Code != protocol.CodeFailed || !strings.Contains(res.Error, "encoding the result") {
			t.Errorf("unencodable result: %+v", res)
		}
	})
}

// codedErr is a feature's refusal that names its code.
type codedErr struct{ code string }

func (e codedErr) Error() string      { return "turn B-frames off" }
func (e codedErr) ResultCode() string { return e.code }

// A handler's error that names its code is answered with that code, the
// way a camera that cannot be shown says why; a code too long for the
// wire is a plain failure.
func TestCodedHandlerErrors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newRig(t, t.TempDir(), Config{})
		Register(g.r, "coded", Control, func(_ context.Context, _ protocol.Command, a json.RawMessage) (any, error) {
			return nil, fmt.Errorf("whep: %w", codedErr{code: strings.Trim(string(a), `"`)})
		})
		g.run()
		g.send("c1", "coded", `"camera_bframes"`, time.Minute)
		g.send("c2", "coded", `"`+strings.Repeat("x", protocol.MaxResultCodeLen+1)+`"`, time.Minute)
		if res := g.mustResult("c1"); res.OK || res.Code != protocol.CodeCameraBFrames || res.Error != "whep: turn B-frames off" {
			t.Errorf("coded error: %+v", res)
		}
		if res := g.mustResult("c2"); res.Code != protocol.CodeFailed {
			t.Errorf("overlong code: %+v", res)
		}
	})
}

// Stopping the runner cancels the handlers in flight, answers them and
// what was queued, and returns once they have all returned.
func TestStopCancelsHandlersInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newRig(t, t.TempDir(), Config{})
		slow := newGate()
		Register(g.r, "download", Slow, slow.hold)
		busy := newGate()
		Register(g.r, "hang-up", Control, busy.hold)
		stop := g.run()
		g.send("d1", "download", "", time.Minute)
		g.send("h1", "hang-up", "", time.Minute)
		g.send("h2", "hang-up", "", time.Minute) // queued behind h1
		synctest.Wait()
		stop()
		for _, id := range []string{"d1", "h1", "h2"} {
			if res := g.mustResult(id); res.OK || res.Code != protocol.CodeFailed || !strings.Contains(res.Error, "the box stopped") {
				t.Errorf("%s: %+v", id, res)
			}
		}
		if _, acted := slow.seen(); len(acted) != 0 {
			t.Errorf("acted after the stop: %v", acted)
		}
		g.r.Receive(t.Context(), g.signed(g.key, "late", "ping", "", time.Now(), time.Minute)) // returns: the runner has stopped
		if err := g.r.Run(t.Context()); err == nil {
			t.Error("Run ran twice")
		}
	})
}

func TestRegisteringATypeTwicePanics(t *testing.T) {
	g := newRig(t, t.TempDir(), Config{})
	defer func() {
		if recover() == nil {
			t.Error("a second ping was registered")
		}
	}()
	Register(g.r, "ping", Control, func(context.Context, protocol.Command, struct{}) (any, error) { return nil, nil })
}

func TestNewReportsEveryProblem(t *testing.T) {
	_, err := New(Config{MaxSlow: -1}, Deps{BoxID: "Bad/Box", Key: []byte{1}})
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{"box id", "township key", "no store", "no event recorder", "no clock", "max slow"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q: %v", want, err)
		}
	}
}

// The watchdog's liveness check answers while the lanes turn, and not
// while a control handler holds the control lane up.
func TestAliveAnswersOnlyWhileTheControlLaneTurns(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newRig(t, t.TempDir(), Config{})
		stuck := newGate()
		Register(g.r, "stuck", Control, stuck.hold)
		g.run()
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		if err := g.r.Alive(ctx); err != nil {
			t.Fatalf("Alive on an idle runner: %v", err)
		}
		g.send("c1", "stuck", "", 10*time.Minute)
		synctest.Wait()
		ctx2, cancel2 := context.WithTimeout(t.Context(), time.Second)
		defer cancel2()
		if err := g.r.Alive(ctx2); err == nil {
			t.Fatal("Alive answered while the control lane was held up")
		}
		close(stuck.open)
		synctest.Wait()
		ctx3, cancel3 := context.WithTimeout(t.Context(), time.Second)
		defer cancel3()
		if err := g.r.Alive(ctx3); err != nil {
			t.Fatalf("Alive once the lane was free again: %v", err)
		}
	})
}
