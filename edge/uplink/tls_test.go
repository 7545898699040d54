package uplink

import (
	"context"
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
	"strings"
	"testing"
	"time"

	"github.com/dalaba/dalaba/edge/clock"
	"github.com/dalaba/dalaba/protocol"
)

// TestTLSWithCAFile: a township running its own CA. The broker's
// certificate is signed by a CA the box knows only from CAFile.
func TestTLSWithCAFile(t *testing.T) {
	caFile, serverCert := testPKI(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	br := &broker{t: t, addr: l.Addr().String()}
	br.serve(tls.NewListener(l, &tls.Config{Certificates: []tls.Certificate{serverCert}, MinVersion: tls.VersionTLS12}))
	t.Cleanup(br.stop)

	// Connected means CONNACK, SUBACK and the online status's PUBACK all
	// came back over TLS.
	b := startBoxWith(t, "ssl://"+br.addr, "box-tls", boxOpts{caFile: caFile})
	eventually(t, 10*time.Second, "connected over TLS", b.up.Connected)

	// Without the CA file the box trusts only the system roots and must
	// refuse this broker.
	u, err := New(Config{BoxID: "box-tls2", BrokerURL: "tls://" + br.addr, ConnectTimeout: 5 * time.Second}, Deps{
		Clock: clock.Real(), Outbox: b.ob, OnDesired: func(context.Context, []byte) {}, OnCommand: func(context.Context, []byte) {},
		Reported: func() protocol.Reported { return protocol.Reported{} },
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := u.connect(t.Context()); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("connect without the CA: err = %v, want a certificate error", err)
	}
}

// testPKI writes a fresh CA to a PEM file and returns it with a server
// certificate for 127.0.0.1 signed by it.
func testPKI(t *testing.T) (caFile string, server tls.Certificate) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test township CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	srvKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	srvTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "broker"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:    x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, ca, &srvKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caFile = filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return caFile, tls.Certificate{Certificate: [][]byte{srvDER}, PrivateKey: srvKey}
}
