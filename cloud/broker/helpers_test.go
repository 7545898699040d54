package broker

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// wait bounds every wait on the network in these tests; a healthy run
// needs milliseconds.
const wait = 10 * time.Second

// Credentials every broker under test knows.
const (
	boxA      = "village-a"
	boxB      = "village-b"
	cloudUser = "dalaba_cloud"
)

// password is user's secret on every broker under test.
func password(user string) string {
	switch user {
	case boxA, boxB, cloudUser:
		return "secret-of-" + user
	}
	return ""
}

// tableAuth is the Authenticator over passwords: boxes by name, the cloud
// user as Cloud. The real one is the fleet's box registry.
type tableAuth struct{}

func (tableAuth) Authenticate(_ context.Context, user string, pass []byte) (Identity, bool) {
	want := password(user)
	if want == "" || string(pass) != want {
		return Identity{}, false
	}
	if user == cloudUser {
		return Identity{Cloud: true}, true
	}
	return Identity{Box: user}, true
}

// logRecorder keeps what was logged, for tests that check the logs.
type logRecorder struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (r *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *logRecorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recs = append(r.recs, rec.Clone())
	return nil
}
func (r *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return r } // attrs of With are not needed here
func (r *logRecorder) WithGroup(string) slog.Handler      { return r }

// find returns the records at level with message msg whose attributes
// include every key=value of want.
func (r *logRecorder) find(level slog.Level, msg string, want map[string]string) []slog.Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []slog.Record
	for _, rec := range r.recs {
		if rec.Level != level || rec.Message != msg {
			continue
		}
		got := map[string]string{}
		rec.Attrs(func(a slog.Attr) bool { got[a.Key] = a.Value.String(); return true })
		match := true
		for k, v := range want {
			if got[k] != v {
				match = false
			}
		}
		if match {
			out = append(out, rec)
		}
	}
	return out
}

// env is a broker under test as its clients see it.
type env struct {
	boxURL   string      // where boxes connect
	cloudURL string      // where the township service connects
	tls      *tls.Config // for ssl:// URLs
	// strict: the broker refuses in the protocol (SUBACK 0x80, CONNACK 5
	// for a will on a forbidden topic), as the embedded one does. Mosquitto
	// 2.0 accepts those and checks each message instead; both must deliver
	// nothing across boxes.
	strict bool
}

// startEmbedded runs a Broker on loopback until the test ends.
func startEmbedded(t *testing.T, cfg Config, log *slog.Logger) (*Broker, env) {
	t.Helper()
	return startWith(t, cfg, Deps{Logger: log})
}

// startWith runs a Broker with deps (tableAuth when deps has no Auth) on
// loopback until the test ends.
func startWith(t *testing.T, cfg Config, deps Deps) (*Broker, env) {
	t.Helper()
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	if deps.Auth == nil {
		deps.Auth = tableAuth{}
	}
	b, err := New(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(wait):
			t.Errorf("Run did not return within %s of cancel", wait)
		}
	})
	select {
	case <-b.Ready():
	case err := <-done:
		t.Fatalf("Run: %v", err)
	case <-time.After(wait):
		t.Fatal("broker not ready")
	}
	url := "tcp://" + b.Addr()
	return b, env{boxURL: url, cloudURL: url, strict: true}
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// client is a paho client whose messages land in msgs.
type client struct {
	paho.Client
	msgs chan paho.Message
}

type dialOpts struct {
	clientID string // default: unique per call
	password string // default: the user's
	persist  bool   // CleanSession=false
}

// uniqueClientID makes a client id no other test client uses.
func uniqueClientID(user string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b) // crypto/rand does not fail on Linux
	return fmt.Sprintf("%s-%x", user, b)
}

// dial connects user (a box or the cloud) and returns the client, or the
// connect error.
func (e env) dial(t *testing.T, user string, o dialOpts) (*client, error) {
	t.Helper()
	url := e.boxURL
	if user == cloudUser {
		url = e.cloudURL
	}
	if o.clientID == "" {
		o.clientID = uniqueClientID(user)
	}
	if o.password == "" {
		o.password = password(user)
	}
	c := &client{msgs: make(chan paho.Message, 256)}
	opts := paho.NewClientOptions().AddBroker(url).SetClientID(o.clientID).
		SetUsername(user).SetPassword(o.password).SetCleanSession(!o.persist).
		SetAutoReconnect(false).SetConnectRetry(false).SetConnectTimeout(wait).
		SetProtocolVersion(4).SetTLSConfig(e.tls).
		SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) { c.msgs <- m })
	c.Client = paho.NewClient(opts)
	tok := c.Connect()
	if !tok.WaitTimeout(wait) {
		return nil, errors.New("connect timed out")
	}
	if err := tok.Error(); err != nil {
		return nil, err
	}
	t.Cleanup(func() { c.Disconnect(0) })
	return c, nil
}

// leave disconnects c and returns once its connection is closed. paho's
// Disconnect(0) returns at once and closes the connection afterwards, so a
// message sent meanwhile can still reach, and be acknowledged by, the
// client that is leaving: a scenario about what a session keeps must not
// go on before the client has gone.
func (c *client) leave() {
	c.Disconnect(uint(wait / time.Millisecond))
}

func (e env) mustDial(t *testing.T, user string, o dialOpts) *client {
	t.Helper()
	c, err := e.dial(t, user, o)
	if err != nil {
		t.Fatalf("connect %s: %v", user, err)
	}
	return c
}

// subscribe subscribes to each filter at QoS 1 and returns the SUBACK
// code per filter (0x80 = refused).
func (c *client) subscribe(t *testing.T, filters ...string) map[string]byte {
	t.Helper()
	m := map[string]byte{}
	for _, f := range filters {
		m[f] = 1
	}
	tok := c.SubscribeMultiple(m, func(_ paho.Client, msg paho.Message) { c.msgs <- msg })
	if !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatalf("subscribe %v: %v", filters, tok.Error())
	}
	return tok.(*paho.SubscribeToken).Result()
}

func (c *client) mustSubscribe(t *testing.T, filters ...string) {
	t.Helper()
	for f, code := range c.subscribe(t, filters...) {
		if code == 0x80 {
			t.Fatalf("subscribe %s refused", f)
		}
	}
}

func (c *client) mustPublish(t *testing.T, topic string, qos byte, retained bool, payload []byte) {
	t.Helper()
	tok := c.Publish(topic, qos, retained, payload)
	if !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatalf("publish %s: %v", topic, tok.Error())
	}
}

// publishDenied publishes what the broker should refuse and waits until
// the broker has dealt with it: mochi closes a 3.1.1 client that publishes
// at QoS 1 where it may not, Mosquitto acknowledges and drops.
func (c *client) publishDenied(topic string, qos byte, retained bool, payload []byte) {
	c.Publish(topic, qos, retained, payload).WaitTimeout(wait)
}

// until reads messages until one on topic with payload arrives, returning
// those received before it. Because a broker keeps the order of what one
// connection sends and of what it sends to one connection, a message that
// was refused before the barrier cannot come after it.
func (c *client) until(t *testing.T, topic string, payload []byte) []paho.Message {
	t.Helper()
	var before []paho.Message
	deadline := time.After(wait)
	for {
		select {
		case m := <-c.msgs:
			if m.Topic() == topic && bytes.Equal(m.Payload(), payload) {
				return before
			}
			before = append(before, m)
		case <-deadline:
			t.Fatalf("no message %q on %s within %s (got %d others)", payload, topic, wait, len(before))
		}
	}
}

// rawConnect sends a hand-made MQTT 3.1.1 CONNECT with a will, QoS 1 and
// retained, and returns the CONNACK return code and the open connection
// (nil when refused).
func (e env) rawConnect(t *testing.T, user, clientID, willTopic string, willPayload []byte) (byte, net.Conn) {
	t.Helper()
	return e.rawConnectKeepalive(t, user, clientID, willTopic, willPayload, 60)
}

// rawConnectKeepalive is rawConnect with the keepalive in seconds.
func (e env) rawConnectKeepalive(t *testing.T, user, clientID, willTopic string, willPayload []byte, keepalive uint16) (byte, net.Conn) {
	t.Helper()
	url := e.boxURL
	var conn net.Conn
	var err error
	d := &net.Dialer{Timeout: wait}
	switch {
	case strings.HasPrefix(url, "ssl://"):
		conn, err = tls.DialWithDialer(d, "tcp", strings.TrimPrefix(url, "ssl://"), e.tls)
	default:
		conn, err = d.Dial("tcp", strings.TrimPrefix(url, "tcp://"))
	}
	if err != nil {
		t.Fatal(err)
	}
	var body bytes.Buffer
	str := func(s []byte) {
		_ = binary.Write(&body, binary.BigEndian, uint16(len(s))) // a bytes.Buffer write cannot fail
		body.Write(s)
	}
	str([]byte("MQTT"))
	body.WriteByte(4)                                       // protocol level 3.1.1
	body.WriteByte(0x80 | 0x40 | 0x20 | 0x08 | 0x04 | 0x02) // user, password, will retain, will QoS 1, will, clean
	_ = binary.Write(&body, binary.BigEndian, keepalive)    // a bytes.Buffer write cannot fail
	str([]byte(clientID))
	str([]byte(willTopic))
	str(willPayload)
	str([]byte(user))
	str([]byte(password(user)))
	pkt := []byte{0x10}
	for n := body.Len(); ; {
		b := byte(n % 128)
		n /= 128
		if n > 0 {
			b |= 0x80
		}
		pkt = append(pkt, b)
		if n == 0 {
			break
		}
	}
	pkt = append(pkt, body.Bytes()...)
	_ = conn.SetDeadline(time.Now().Add(wait))
	if _, err := conn.Write(pkt); err != nil {
		t.Fatal(err)
	}
	ack := make([]byte, 4)
	if _, err := io.ReadFull(bufio.NewReader(conn), ack); err != nil {
		conn.Close()
		t.Fatalf("no CONNACK: %v", err)
	}
	if ack[0] != 0x20 || ack[1] != 2 {
		t.Fatalf("not a CONNACK: % x", ack)
	}
	if ack[3] != 0 {
		conn.Close()
		return ack[3], nil
	}
	_ = conn.SetDeadline(time.Time{})
	return 0, conn
}

// writeCert makes a self-signed certificate for 127.0.0.1 and localhost in
// dir, returning the file paths and a client config trusting it.
func writeCert(t *testing.T, dir string) (certFile, keyFile string, clientTLS *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "dalaba test broker"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:                  true,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "broker.crt"), filepath.Join(dir, "broker.key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
}
