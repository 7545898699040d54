package downlink

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/dalaba/dalaba/internal/testenv"
	"github.com/dalaba/dalaba/protocol"
)

func randomSuffix(t *testing.T) string {
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// replica runs a downlink that is one of the replicas sharing group on
// the broker at addr, until the test ends.
func replica(t *testing.T, addr, clientID, group string, workers int, h Handler, hd *handler, key ed25519.PrivateKey) *Downlink {
	t.Helper()
	d, err := New(Config{URL: "tcp://" + addr, ClientID: clientID, ShareGroup: group, Workers: workers},
		Deps{Logger: slog.New(slog.NewTextHandler(t.Output(), nil)), Handler: h, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	run(t, d, hd)
	return d
}

// answer makes the box answer every command it can verify with OK; a
// failure to answer goes to failed (the command then times out).
func (b *box) answer(t *testing.T, pub ed25519.PublicKey, failed chan<- error) {
	t.Helper()
	tok := b.cl.Subscribe(protocol.Topic(b.id, protocol.KindCmd), 1, func(_ mqtt.Client, m mqtt.Message) {
		c, err := protocol.OpenCommand(pub, b.id, m.Payload(), time.Now())
		if err == nil {
			var res []byte
			if res, err = protocol.Marshal(protocol.KindCmdResult, protocol.CommandResult{V: 1, ID: c.ID, BoxID: b.id, OK: true}); err == nil {
				b.cl.Publish(protocol.Topic(b.id, protocol.KindCmdResult), 1, false, res)
				return
			}
		}
		select {
		case failed <- err:
		default:
		}
	})
	if !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatalf("box subscribe: %v", tok.Error())
	}
}

// Replicas on one broker: each event batch a box publishes is handled by
// exactly one of them; its status, reported state and command results
// reach every replica, so the one that sent a command gets its result.
func TestReplicasShareBoxMessagesAndEachHearsResults(t *testing.T) {
	addr := testenv.PrivateMosquitto(t)
	tag := randomSuffix(t)
	key, err := protocol.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	var hs [2]*handler
	var ds [2]*Downlink
	for i := range ds {
		hs[i] = &handler{}
		ds[i] = replica(t, addr, fmt.Sprintf("dalaba_cloud_test.%s-%d", tag, i), "g"+tag, 0, hs[i], hs[i], key)
	}
	id := "shared-" + tag
	b := connectBox(t, addr, id)
	const n = 200
	for i := range n {
		b.publish(t, protocol.KindEvents, fmt.Sprint(i))
	}
	events := func(h *handler) []string {
		var out []string
		for _, m := range h.messages(id) {
			if strings.HasPrefix(m, string(protocol.KindEvents)+" ") {
				out = append(out, m)
			}
		}
		return out
	}
	handled := func() (total int, per [2]int) {
		for i, h := range hs {
			per[i] = len(events(h))
			total += per[i]
		}
		return total, per
	}
	waitFor(t, "every event message handled", func() bool { total, _ := handled(); return total >= n })
	total, per := handled()
	if total != n {
		t.Fatalf("%d messages handled for %d published (%v per replica): want each exactly once", total, n, per)
	}
	if per[0] == 0 || per[1] == 0 {
		t.Fatalf("handled per replica %v: the broker gave one replica everything", per)
	}
	seen := map[string]bool{}
	for _, h := range hs {
		for _, m := range events(h) {
			if seen[m] {
				t.Fatalf("%q handled twice", m)
			}
			seen[m] = true
		}
	}
	waitFor(t, "every ack published to the box", func() bool { return len(b.received(protocol.KindEventsAck)) == n })

	b.publish(t, protocol.KindReported, "report")
	b.publish(t, protocol.KindStatus, "online")
	for i, h := range hs {
		waitFor(t, fmt.Sprintf("replica %d hears the reported state and the status", i), func() bool {
			var rep, st bool
			for _, m := range h.messages(id) {
				rep = rep || m == string(protocol.KindReported)+" report"
				st = st || m == string(protocol.KindStatus)+" online"
			}
			return rep && st
		})
	}

	// The box answers the command it gets; the result reaches both
	// replicas, and the one that sent the command returns it.
	answer := make(chan error, 1)
	b.answer(t, key.Public().(ed25519.PublicKey), answer)
	for i, d := range ds {
		res, err := d.SendCommand(t.Context(), id, "ping", nil, time.Minute)
		if err != nil || !res.OK {
			select {
			case aerr := <-answer:
				t.Fatalf("the box could not answer: %v", aerr)
			default:
			}
			t.Fatalf("replica %d: ping: %+v, %v", i, res, err)
		}
	}
	for i, h := range hs {
		waitFor(t, fmt.Sprintf("replica %d hears both command results", i), func() bool {
			results := 0
			for _, m := range h.messages(id) {
				if strings.HasPrefix(m, string(protocol.KindCmdResult)+" ") {
					results++
				}
			}
			return results == len(ds)
		})
	}
}

// stuck is a handler whose event batches wait until release is closed: a
// store that has stopped answering.
type stuck struct {
	*handler
	release chan struct{}
}

func (s stuck) Handle(ctx context.Context, m Message) ([]byte, error) {
	if m.Kind == protocol.KindEvents {
		select {
		case <-s.release:
		case <-ctx.Done():
		}
	}
	return s.handler.Handle(ctx, m)
}

// A replica whose store is stuck on a box's event batches still answers
// a request for that box: the command's result does not wait behind the
// batches, and the batches past what the worker can hold are left to the
// box, which sends them again, instead of holding up the connection.
func TestAReplicasAnswersDoNotWaitBehindEventBatches(t *testing.T) {
	addr := testenv.PrivateMosquitto(t)
	tag := randomSuffix(t)
	key, err := protocol.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	h := stuck{handler: &handler{}, release: make(chan struct{})}
	defer close(h.release)
	d := replica(t, addr, "dalaba_cloud_test."+tag, "g"+tag, 1, h, h.handler, key)
	id := "stuck-" + tag
	b := connectBox(t, addr, id)
	failed := make(chan error, 1)
	b.answer(t, key.Public().(ed25519.PublicKey), failed)
	for i := range 2 * workerQueue {
		b.publish(t, protocol.KindEvents, fmt.Sprint(i))
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if res, err := d.SendCommand(ctx, id, "ping", nil, time.Minute); err != nil || !res.OK {
		select {
		case aerr := <-failed:
			t.Fatalf("the box could not answer: %v", aerr)
		default:
		}
		t.Fatalf("ping while the box's batches wait: %+v, %v", res, err)
	}
	if d.Shed() == 0 {
		t.Fatalf("no batch was left to the box, though %d came to a worker holding %d", 2*workerQueue, workerQueue)
	}
}
