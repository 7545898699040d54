// Package tlsclient makes the TLS settings both daemons' MQTT clients use:
// TLS 1.2 or later, trusting the system's roots or, when given, one CA file
// (a township running its own certificate authority).
package tlsclient

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
)

// Config returns the client TLS configuration for caFile ("" = system roots).
func Config(caFile string) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile == "" {
		return tc, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("tls: CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("tls: CA file %s holds no certificate", caFile)
	}
	tc.RootCAs = pool
	return tc, nil
}
