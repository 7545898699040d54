package broker

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/dalaba/dalaba/protocol"
)

// mayPublish reports whether id may publish to topic: the cloud anything, a
// box only the exact topics of its own subtree that boxes send.
func mayPublish(id Identity, topic string) bool {
	if id.Cloud {
		return true
	}
	for _, k := range protocol.Kinds() {
		if k.FromBox() && topic == protocol.Topic(id.Box, k) {
			return true
		}
	}
	return false
}

// mayRead reports whether id may subscribe to filter, or receive a message
// on topic: the cloud anything, a box only inside its own subtree. The box
// id holds no wildcard or '/', so nothing after the prefix can reach
// another box.
func mayRead(id Identity, filter string) bool {
	if id.Cloud {
		return true
	}
	return strings.HasPrefix(filter, protocol.Prefix+id.Box+"/")
}

// cloudName stands for the cloud identity in a client's username; '+' can
// never appear in a box id, so no box can be mistaken for it.
const cloudName = "+cloud"

// The guard replaces each authenticated client's username with its
// identity's name, so the identity travels with mochi's own client record
// through persistent sessions and takeovers, and no side table can go stale.
func identityName(id Identity) []byte {
	if id.Cloud {
		return []byte(cloudName)
	}
	return []byte(id.Box)
}

func identityOf(cl *mqtt.Client) Identity {
	n := string(cl.Properties.Username)
	if n == cloudName {
		return Identity{Cloud: true}
	}
	return Identity{Box: n}
}

// guard is the mochi hook that authenticates clients, enforces the rules
// of the package comment and the boxes' publish limits, and tells Sessions
// of box connections.
type guard struct {
	mqtt.HookBase
	ctx      context.Context // Run's: bounds Authenticate calls and pacing
	srv      *mqtt.Server
	auth     Authenticator
	log      *slog.Logger
	refused  *refusals
	sessions Sessions
	limits   *limits
	now      func() time.Time
	gate     *gate                        // paces box connects; nil: none
	cloud    *atomic.Pointer[mqtt.Client] // set to the service's connection; nil: not kept

	// mu orders what Sessions hears of each box; current is each box's
	// connection that Sessions was last told is up.
	mu      sync.Mutex
	current map[string]*mqtt.Client
}

func newGuard(ctx context.Context, srv *mqtt.Server, auth Authenticator, log *slog.Logger, refused *refusals,
	sessions Sessions, limits *limits, now func() time.Time) *guard {
	return &guard{ctx: ctx, srv: srv, auth: auth, log: log, refused: refused, sessions: sessions, limits: limits, now: now,
		current: map[string]*mqtt.Client{}}
}

func (g *guard) ID() string { return "dalaba-guard" }

func (g *guard) Provides(b byte) bool {
	switch b {
	case mqtt.OnConnect, mqtt.OnConnectAuthenticate, mqtt.OnSessionEstablish, mqtt.OnSessionEstablished,
		mqtt.OnACLCheck, mqtt.OnPublish, mqtt.OnDisconnect:
		return true
	}
	return false
}

// OnConnect decides on a new connection. Every refusal answers CONNACK here
// and returns an error, which makes mochi close the connection; so
// OnConnectAuthenticate is reached only by clients let in.
func (g *guard) OnConnect(cl *mqtt.Client, pk packets.Packet) error {
	user := string(pk.Connect.Username)
	if user == "" {
		return g.refuse(cl, packets.ErrNotAuthorized, "connect", "anonymous", "remote", cl.Net.Remote)
	}
	id, ok := g.auth.Authenticate(g.ctx, user, pk.Connect.Password)
	if !ok {
		return g.refuse(cl, packets.ErrBadUsernameOrPassword, "connect", "bad username or password", "username", user, "remote", cl.Net.Remote)
	}
	if id.Cloud {
		id = Identity{Cloud: true} // one cloud identity, whatever else the authenticator said
	} else {
		if err := protocol.ValidateBoxID(id.Box); err != nil {
			g.log.Error("authenticator returned an invalid box identity", "username", user, "err", err)
			return g.refuse(cl, packets.ErrNotAuthorized, "connect", "invalid identity", "username", user, "remote", cl.Net.Remote)
		}
		if cl.ID != id.Box {
			g.log.Debug("box session id set to its box id", "box_id", id.Box, "client_id", cl.ID)
			if cl.Properties.Props.AssignedClientID != "" {
				cl.Properties.Props.AssignedClientID = id.Box
			}
			cl.ID = id.Box
		}
	}
	if cl.Properties.Will.Flag == 1 && !mayPublish(id, cl.Properties.Will.TopicName) {
		return g.refuse(cl, packets.ErrNotAuthorized, "connect", "will topic not allowed", logKey(id), logValue(id), "topic", cl.Properties.Will.TopicName)
	}
	if old, ok := g.srv.Clients.Get(cl.ID); ok && identityOf(old) != id {
		return g.refuse(cl, packets.ErrNotAuthorized, "connect", "client id holds another identity's session", logKey(id), logValue(id), "client_id", cl.ID)
	}
	if !id.Cloud && g.gate != nil {
		if err := g.pace(cl, id); err != nil {
			return err
		}
	}
	cl.Properties.Username = identityName(id)
	g.log.Debug("client connected", logKey(id), logValue(id), "client_id", cl.ID, "remote", cl.Net.Remote, "clean", cl.Properties.Clean)
	return nil
}

// pace waits for the box's turn to connect (see ConnectLimit), on the
// box's own connection; a box whose turn is too far off is answered
// "server busy" and backs off.
func (g *guard) pace(cl *mqtt.Client, id Identity) error {
	wait, ok := g.gate.take(g.now())
	if !ok {
		return g.refuse(cl, packets.ErrServerBusy, "connect", "busy: too many boxes connecting at once", logKey(id), logValue(id))
	}
	if wait == 0 {
		return nil
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-g.ctx.Done():
		return g.refuse(cl, packets.ErrServerUnavailable, "connect", "shutting down", logKey(id), logValue(id))
	}
}

// refuse answers CONNACK with code, logs the refusal and returns the error
// that makes mochi drop the connection.
func (g *guard) refuse(cl *mqtt.Client, code packets.Code, action, reason string, attrs ...any) error {
	g.refused.warn(action+" "+reason, action, reason, attrs...)
	ack := code
	if cl.Properties.ProtocolVersion < 5 {
		// mochi sends 3.1.1 clients the 5.0 code for "not authorized",
		// which they cannot read; 3.1.1 has 4 and 5 for these.
		ack = packets.Err3NotAuthorized
		switch code {
		case packets.ErrBadUsernameOrPassword:
			ack = packets.ErrMalformedUsernameOrPassword // 0x04, "bad user name or password" in 3.1.1
		case packets.ErrServerBusy, packets.ErrServerUnavailable:
			ack = packets.Err3ServerUnavailable // 0x03: the client retries later
		}
	}
	if err := g.srv.SendConnack(cl, ack, false, nil); err != nil {
		return errors.Join(code, err)
	}
	return code
}

func (g *guard) OnConnectAuthenticate(*mqtt.Client, packets.Packet) bool { return true }

// takeoverWait bounds how long a new connection waits for the cleanup of
// the old one it replaces; the cleanup takes microseconds once the old
// connection is closed.
const takeoverWait = 2 * time.Second

// OnSessionEstablish runs just before mochi hands the client id's session
// to the new connection. If the old holder's session ends with its
// connection (clean session), mochi's takeover races with the old
// connection's own cleanup, which can then delete the new client and its
// subscriptions, since both share the id: the box would silently receive
// nothing. So end the old connection first and wait until its cleanup is
// done; the new client then starts a fresh session, as it would anyway.
func (g *guard) OnSessionEstablish(cl *mqtt.Client, _ packets.Packet) {
	old, ok := g.srv.Clients.Get(cl.ID)
	if !ok || old == cl || !endsWithConnection(old) {
		return
	}
	_ = g.srv.DisconnectClient(old, packets.ErrSessionTakenOver) // returns the code it sent
	deadline := time.Now().Add(takeoverWait)
	for {
		if cur, ok := g.srv.Clients.Get(cl.ID); !ok || cur != old {
			return
		}
		if time.Now().After(deadline) {
			g.log.Warn("old connection not cleaned up; taking over its session anyway", "client_id", cl.ID, "waited", takeoverWait)
			return
		}
		time.Sleep(time.Millisecond) // the old connection's goroutine is finishing
	}
}

// OnSessionEstablished runs once the connection is acknowledged and
// serving: the box is connected. A box's connection ends with exactly one
// OnDisconnect, so every Connected is followed by one Disconnected unless
// a newer connection of the box was announced in between.
func (g *guard) OnSessionEstablished(cl *mqtt.Client, _ packets.Packet) {
	id := identityOf(cl)
	if id.Cloud {
		if g.cloud != nil {
			g.cloud.Store(cl)
		}
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.current[id.Box] = cl
	g.sessions.Connected(id.Box)
}

// endsWithConnection reports whether cl's session is dropped when its
// connection ends, as mochi decides it.
func endsWithConnection(cl *mqtt.Client) bool {
	if cl.Properties.ProtocolVersion == 5 {
		return cl.Properties.Props.SessionExpiryInterval == 0
	}
	return cl.Properties.Clean
}

func (g *guard) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	id := identityOf(cl)
	if write && mayPublish(id, topic) || !write && mayRead(id, topic) {
		return true
	}
	action := "read"
	if write {
		action = "publish"
	}
	g.refused.warn(string(identityName(id))+" "+action, action, "not allowed", logKey(id), logValue(id), "topic", topic)
	return false
}

// OnPublish holds each box to its Limit (see there). It runs on the
// publishing connection's goroutine, after the ACL check; holding it there
// slows only that connection.
func (g *guard) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	id := identityOf(cl)
	if id.Cloud {
		return pk, nil
	}
	now := g.now()
	v := g.limits.of(id.Box, now).judge(len(pk.TopicName)+len(pk.Payload), pk.FixedHeader.Qos, now)
	if v.abusive {
		g.log.Warn("box disconnected: its publishes kept being dropped over its limit", "box_id", id.Box, "for", AbuseAfter)
		_ = g.srv.DisconnectClient(cl, packets.ErrQuotaExceeded) // returns the code it sent
		return pk, packets.ErrRejectPacket
	}
	if v.wait > 0 {
		t := time.NewTimer(v.wait)
		defer t.Stop()
		select {
		case <-t.C:
		case <-g.ctx.Done():
			return pk, packets.ErrRejectPacket // shutting down; the box sends it again
		}
	}
	switch {
	case !v.drop:
		return pk, nil
	case pk.FixedHeader.Qos == 0:
		// Dropped. mochi logs each rejected packet at Debug, copying it
		// into the call; ignoring costs nothing and, at QoS 0, acks
		// nothing either.
		return pk, packets.CodeSuccessIgnore
	default:
		// Not acknowledged: the box still holds the message.
		return pk, packets.ErrRejectPacket
	}
}

func (g *guard) OnDisconnect(cl *mqtt.Client, err error, expire bool) {
	id := identityOf(cl)
	g.log.Debug("client disconnected", logKey(id), logValue(id), "client_id", cl.ID, "session_kept", !expire, "err", err)
	if id.Cloud {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.current[id.Box] == cl {
		delete(g.current, id.Box)
		g.sessions.Disconnected(id.Box)
	}
}

func logKey(id Identity) string {
	if id.Cloud {
		return "identity"
	}
	return "box_id"
}

func logValue(id Identity) string {
	if id.Cloud {
		return "cloud"
	}
	return id.Box
}
