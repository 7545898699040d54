package downlink

import (
	"crypto/ed25519"
	"errors"
	"testing"
	"time"

	"github.com/dalaba/dalaba/protocol"
)

// The township waits for a command's result beyond its lifetime, by the
// result's transit: a box that carried it out at its last moment is heard.
// A box that got it too late says so, and SendCommand tells its caller.
func TestSendCommandAwaitsTheLastMomentAndHearsExpired(t *testing.T) {
	addr, _ := startBroker(t, "127.0.0.1:0")
	h := &handler{}
	d, key := newDownlink(t, addr, h)
	run(t, d, h)
	a := connectBox(t, addr, "village-a")

	const ttl = 300 * time.Millisecond
	answer := func(code string, after time.Duration) (protocol.CommandResult, error) {
		type sent struct {
			res protocol.CommandResult
			err error
		}
		done := make(chan sent, 1)
		n := len(a.received(protocol.KindCmd))
		go func() {
			r, err := d.SendCommand(t.Context(), "village-a", "broadcast.stop", nil, ttl)
			done <- sent{r, err}
		}()
		waitFor(t, "the command at the box", func() bool { return len(a.received(protocol.KindCmd)) > n })
		c, err := protocol.OpenCommand(key.Public().(ed25519.PublicKey), "village-a", a.received(protocol.KindCmd)[n], time.Now())
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Until(c.ExpiresAt.Add(after))) // the box's answer in transit past the expiry
		res := protocol.CommandResult{V: 1, ID: c.ID, BoxID: "village-a", OK: code == "", Code: code}
		p, err := protocol.Marshal(protocol.KindCmdResult, res)
		if err != nil {
			t.Fatal(err)
		}
		a.publish(t, protocol.KindCmdResult, string(p))
		select {
		case s := <-done:
			return s.res, s.err
		case <-time.After(ttl + ResultGrace + wait):
			t.Fatal("SendCommand did not return")
			return protocol.CommandResult{}, nil
		}
	}

	if res, err := answer("", 300*time.Millisecond); err != nil || !res.OK {
		t.Errorf("a result 300 ms after the expiry: %+v, %v; want it returned", res, err)
	}
	res, err := answer(protocol.CodeExpired, 0)
	if !errors.Is(err, ErrExpired) || res.Code != protocol.CodeExpired || res.OK {
		t.Errorf("the box's expired: %+v, %v; want the result and ErrExpired", res, err)
	}
}
