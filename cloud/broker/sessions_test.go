package broker

import (
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/dalaba/dalaba/internal/testenv"
	"github.com/dalaba/dalaba/protocol"
)

// sessionLog is a Sessions that records what it hears, in order.
type sessionLog struct {
	mu      sync.Mutex
	events  []string // "up <box>", "down <box>"
	limited map[string]uint64
}

func (s *sessionLog) Connected(box string)    { s.add("up " + box) }
func (s *sessionLog) Disconnected(box string) { s.add("down " + box) }
func (s *sessionLog) Limited(box string, n uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.limited == nil {
		s.limited = map[string]uint64{}
	}
	s.limited[box] += n
}

func (s *sessionLog) add(e string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, e)
}

func (s *sessionLog) of(box string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, e := range s.events {
		if strings.HasSuffix(e, " "+box) {
			out = append(out, strings.TrimSuffix(e, " "+box))
		}
	}
	return strings.Join(out, ",")
}

func (s *sessionLog) all() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.events...)
}

func (s *sessionLog) dropped(box string) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.limited[box]
}

// Presence is the box's connection, whatever it publishes: a box that
// says it is online and leaves is gone at once, however it leaves.
func TestSessionsFollowConnections(t *testing.T) {
	sl := &sessionLog{}
	_, e := startWith(t, Config{}, Deps{Logger: discardLogger(), Sessions: sl})
	e.mustDial(t, cloudUser, dialOpts{})

	t.Run("a clean disconnect after a retained online status", func(t *testing.T) {
		a := e.mustDial(t, boxA, dialOpts{})
		// mochi tells hooks after it sent CONNACK, before it reads on.
		testenv.WaitFor(t, wait, "up after connect", func() bool { return sl.of(boxA) == "up" })
		online, _ := protocol.Marshal(protocol.KindStatus, protocol.Status{V: 1, BoxID: boxA, Online: true})
		a.mustPublish(t, protocol.Topic(boxA, protocol.KindStatus), 1, true, online)
		a.Disconnect(50)
		testenv.WaitFor(t, wait, "down after the disconnect", func() bool { return sl.of(boxA) == "up,down" })
	})

	t.Run("a dropped TCP connection", func(t *testing.T) {
		code, conn := e.rawConnect(t, boxB, boxB, protocol.Topic(boxB, protocol.KindStatus), []byte("offline"))
		if code != 0 {
			t.Fatalf("CONNACK %d", code)
		}
		testenv.WaitFor(t, wait, "up", func() bool { return sl.of(boxB) == "up" })
		conn.Close()
		testenv.WaitFor(t, wait, "down after the connection closed", func() bool { return sl.of(boxB) == "up,down" })
	})

	// A connection that goes silent (a box losing power behind a NAT
	// leaves no FIN) ends when its keepalive lapses: mochi allows 1.5 times
	// the keepalive.
	t.Run("a silent connection past its keepalive", func(t *testing.T) {
		before := sl.of(boxB)
		code, conn := e.rawConnectKeepalive(t, boxB, boxB, protocol.Topic(boxB, protocol.KindStatus), []byte("offline"), 1)
		if code != 0 {
			t.Fatalf("CONNACK %d", code)
		}
		defer conn.Close()
		testenv.WaitFor(t, wait, "up", func() bool { return sl.of(boxB) == before+",up" })
		testenv.WaitFor(t, wait, "down after the keepalive lapsed", func() bool { return sl.of(boxB) == before+",up,down" })
	})

	// A box reconnecting while its old connection is still open: the old
	// one's end must not take the new one offline.
	for _, persist := range []bool{false, true} {
		t.Run(fmt.Sprintf("a takeover, persistent session %v", persist), func(t *testing.T) {
			testenv.WaitFor(t, wait, "the last scenario's connections gone", func() bool { return strings.HasSuffix(sl.of(boxA), "down") })
			before := sl.of(boxA)
			old := e.mustDial(t, boxA, dialOpts{clientID: boxA, persist: persist})
			testenv.WaitFor(t, wait, "the first connection up", func() bool { return sl.of(boxA) == before+",up" })
			e.mustDial(t, boxA, dialOpts{clientID: boxA, persist: persist})
			testenv.WaitFor(t, wait, "the old connection gone", func() bool { return !old.IsConnectionOpen() })
			testenv.WaitFor(t, wait, "up, then up again", func() bool {
				got := strings.TrimPrefix(sl.of(boxA), before+",")
				return got == "up,down,up" || got == "up,up"
			})
		})
	}

	for _, ev := range sl.all() {
		if strings.Contains(ev, cloudUser) {
			t.Fatalf("the service's own client was reported: %q", ev)
		}
	}
}

// A subscriber that stops acknowledging loses what does not fit its
// in-flight window. The broker counts those drops and says so as an Error
// once a minute, instead of mochi's Warn per message.
func TestUndeliveredMessagesAreCountedAndAlerted(t *testing.T) {
	rec := &logRecorder{}
	const window = 64
	b, e := startWith(t, Config{MaxInflight: window}, Deps{Logger: slog.New(rec)})
	// A service's session that reads but never acknowledges, as one stuck
	// behind its store would.
	code, conn := e.rawConnect(t, cloudUser, "stuck_cloud", protocol.Topic(boxA, protocol.KindStatus), []byte("gone"))
	if code != 0 {
		t.Fatalf("CONNACK %d", code)
	}
	defer conn.Close()
	filter := protocol.AllBoxes(protocol.KindEvents)
	sub := []byte{0x82, byte(2 + 2 + len(filter) + 1), 0, 1, 0, byte(len(filter))}
	sub = append(append(sub, filter...), 1) // QoS 1
	if _, err := conn.Write(sub); err != nil {
		t.Fatal(err)
	}
	// The SUBACK first: a message published before the subscription holds
	// reaches no one and is not undelivered either.
	suback := make([]byte, 5)
	if _, err := io.ReadFull(conn, suback); err != nil || suback[0] != 0x90 {
		t.Fatalf("SUBACK % x: %v", suback, err)
	}
	go func() { _, _ = io.Copy(io.Discard, conn) }() // reads until the test closes it

	// The publisher writes its messages in one go, raw.
	code, pub := e.rawConnect(t, cloudUser, "publisher_cloud", protocol.Topic(boxA, protocol.KindStatus), []byte("gone"))
	if code != 0 {
		t.Fatalf("CONNACK %d", code)
	}
	defer pub.Close()
	go func() { _, _ = io.Copy(io.Discard, pub) }() // its PUBACKs
	const n = 3 * window
	topic := protocol.Topic(boxA, protocol.KindEvents)
	var buf []byte
	for i := range n {
		body := append([]byte{0, byte(len(topic))}, topic...)
		body = append(body, byte((i+1)>>8), byte(i+1)) // packet id
		body = append(body, strconv.Itoa(i)...)
		buf = append(buf, 0x32, byte(len(body))) // PUBLISH, QoS 1; bodies are under 128 bytes
		buf = append(buf, body...)
	}
	if _, err := pub.Write(buf); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, wait, "undelivered messages counted", func() bool { return b.Undelivered() == n-window })
	testenv.WaitFor(t, wait, "an Error line", func() bool {
		return len(rec.find(slog.LevelError, "messages dropped before reaching their subscriber: a subscriber's queue or in-flight window is full", nil)) == 1
	})
	if got := len(rec.find(slog.LevelWarn, "client store quota reached", nil)); got != 0 {
		t.Fatalf("mochi's line per dropped message: %d at Warn, want them at Debug", got)
	}
}
