package downlink

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/dalaba/dalaba/protocol"
)

// ResultGrace is how long after a command's expiry its result is still
// awaited: the transit, box to broker to township, of a result the box
// produced at the last moment. The box never starts a command after its
// expiry and answers one that outlives it protocol.CodeExpired, so no
// result is due later than this. A caller that bounds SendCommand with a
// context of its own gives it at least the command's ttl plus ResultGrace,
// or it may give up on a command the box carried out.
const ResultGrace = 5 * time.Second

// ErrExpired marks a command the box answered protocol.CodeExpired: it
// arrived, or waited on the box, past its lifetime, and nothing was done,
// so it is safe to send again.
var ErrExpired = errors.New("downlink: the command reached the box too late; nothing was done")

// SendCommand signs a command of type typ with args (any JSON-encodable
// value; nil = none) for box, valid for ttl (in (0, protocol.MaxCommandLifetime]),
// publishes it at QoS 1 and waits for the box's result with the same id.
//
// It gives up with an error wrapping ErrNoResult when ctx ends or when the
// command has expired (plus ResultGrace): a box never runs an expired
// command, so no result can follow. ErrInvalidCommand marks bad arguments,
// ErrNotConnected a broker that is not reachable now. The result is
// returned as the box sent it, OK false included; one whose code is
// protocol.CodeExpired comes with an error wrapping ErrExpired as well.
func (d *Downlink) SendCommand(ctx context.Context, box, typ string, args any, ttl time.Duration) (protocol.CommandResult, error) {
	if ttl <= 0 || ttl > protocol.MaxCommandLifetime {
		return protocol.CommandResult{}, fmt.Errorf("%w: ttl %s must be in (0, %s]", ErrInvalidCommand, ttl, protocol.MaxCommandLifetime)
	}
	var raw json.RawMessage
	if args != nil {
		b, err := json.Marshal(args)
		if err != nil {
			return protocol.CommandResult{}, fmt.Errorf("%w: args: %v", ErrInvalidCommand, err)
		}
		if string(b) != "null" {
			raw = b
		}
	}
	now := d.now()
	c := protocol.Command{ID: newCommandID(), BoxID: box, Type: typ, IssuedAt: now, ExpiresAt: now.Add(ttl), Args: raw}
	payload, err := protocol.SignCommand(d.key, c)
	if err != nil {
		return protocol.CommandResult{}, fmt.Errorf("%w: %v", ErrInvalidCommand, err)
	}

	// Registered before publishing: a fast box may answer before Publish
	// returns.
	ch := make(chan protocol.CommandResult, 1)
	key := box + "/" + c.ID
	d.mu.Lock()
	d.waiters[key] = ch
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		delete(d.waiters, key)
		d.mu.Unlock()
	}()

	if err := d.publish(ctx, protocol.Topic(box, protocol.KindCmd), false, payload); err != nil {
		return protocol.CommandResult{}, fmt.Errorf("downlink: command %s (%s) to %s: %w", c.ID, typ, box, err)
	}
	d.log.Debug("command sent", "box_id", box, "command_id", c.ID, "type", typ)
	expired := time.NewTimer(ttl + ResultGrace)
	defer expired.Stop()
	select {
	case r := <-ch:
		if !r.OK && r.Code == protocol.CodeExpired {
			return r, fmt.Errorf("downlink: command %s (%s) to %s: %w (%s)", c.ID, typ, box, ErrExpired, r.Error)
		}
		return r, nil
	case <-ctx.Done():
		return protocol.CommandResult{}, fmt.Errorf("downlink: command %s (%s) to %s: %w: %w", c.ID, typ, box, ErrNoResult, ctx.Err())
	case <-expired.C:
		return protocol.CommandResult{}, fmt.Errorf("downlink: command %s (%s) to %s: %w: expired after %s", c.ID, typ, box, ErrNoResult, ttl)
	}
}

// result decodes a command result and hands it to its waiter, if any.
func (d *Downlink) result(box string, payload []byte) error {
	r, err := protocol.DecodeCommandResult(box, payload)
	if err != nil {
		return err
	}
	d.mu.Lock()
	ch, ok := d.waiters[box+"/"+r.ID]
	d.mu.Unlock()
	if !ok {
		// Late (the caller gave up) or a duplicate QoS 1 delivery.
		d.log.Debug("result for no waiting command", "box_id", box, "command_id", r.ID)
		return nil
	}
	select {
	case ch <- r:
	default: // a duplicate delivery of a result already taken
	}
	return nil
}

func newCommandID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on Linux
	return hex.EncodeToString(b)
}
