package tlsclient

import (
	"os"
	"path/filepath"
	"testing"
)

func TestConfig(t *testing.T) {
	tc, err := Config("")
	if err != nil || tc.RootCAs != nil || tc.MinVersion == 0 {
		t.Fatalf("system roots: %+v %v", tc, err)
	}
	bad := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(bad, []byte("not a certificate"), 0o600)
	if _, err := Config(bad); err == nil {
		t.Error("a file without a certificate was accepted")
	}
	if _, err := Config(filepath.Join(t.TempDir(), "missing.pem")); err == nil {
		t.Error("a missing file was accepted")
	}
}
