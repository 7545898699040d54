package cloud

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/dalaba/dalaba/cloud/config"
	"github.com/dalaba/dalaba/protocol"
)

// selfSigned writes a certificate for 127.0.0.1 and its key, as PEM files.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "township broker"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
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
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// With a certificate the embedded broker is TLS only: the service's own
// client reaches it through the pinned certificate, and a box verifying
// the certificate normally gets its desired state.
func TestEmbeddedBrokerWithTLS(t *testing.T) {
	certFile, keyFile, pool := selfSigned(t, t.TempDir())
	r := startCloud(t, t.TempDir(), func(c *config.Config) { c.MQTT.CertFile, c.MQTT.KeyFile = certFile, keyFile })
	ec := r.addBox(t, "village-tls")
	if ec.Broker.URL != "tls://"+r.mqtt {
		t.Fatalf("box told to use %s, want tls://%s", ec.Broker.URL, r.mqtt)
	}
	pub, _ := protocol.ParsePublicKey(ec.TownshipKey)
	o := mqtt.NewClientOptions().AddBroker(ec.Broker.URL).SetClientID(ec.BoxID).
		SetUsername(ec.Broker.Username).SetPassword(ec.Broker.Password).SetAutoReconnect(false).
		SetTLSConfig(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12})
	got := make(chan []byte, 1)
	o.SetOnConnectHandler(func(c mqtt.Client) {
		c.Subscribe(protocol.Topic(ec.BoxID, protocol.KindDesired), 1, func(_ mqtt.Client, m mqtt.Message) {
			select {
			case got <- m.Payload():
			default:
			}
		})
	})
	cl := mqtt.NewClient(o)
	if tok := cl.Connect(); !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatalf("box connect over TLS: %v", tok.Error())
	}
	defer cl.Disconnect(0)
	select {
	case p := <-got:
		if d, err := protocol.OpenDesired(pub, ec.BoxID, p, time.Now()); err != nil || d.Rev != 1 {
			t.Fatalf("desired %+v: %v", d, err)
		}
	case <-time.After(wait):
		t.Fatal("no desired state over TLS")
	}
}

func TestPinnedTLSRefusesOtherCertificates(t *testing.T) {
	certA, _, _ := selfSigned(t, t.TempDir())
	certB, _, _ := selfSigned(t, t.TempDir())
	der := func(path string) []byte {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		blk, _ := pem.Decode(b)
		return blk.Bytes
	}
	cfg, err := pinnedTLS(certA)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.VerifyPeerCertificate([][]byte{der(certA)}, nil); err != nil {
		t.Fatalf("the pinned certificate was refused: %v", err)
	}
	if err := cfg.VerifyPeerCertificate([][]byte{der(certB)}, nil); err == nil {
		t.Fatal("another certificate was accepted")
	}
	if _, err := pinnedTLS(filepath.Join(t.TempDir(), "missing.crt")); err == nil {
		t.Fatal("a missing certificate file was accepted")
	}
}
