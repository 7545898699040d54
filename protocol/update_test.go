package protocol

import (
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"
)

func goodManifest() Manifest {
	return Manifest{Version: "2.0.0", Arch: ArchARMHF, SHA256: strings.Repeat("ab", 32), Size: 12 << 20, IssuedAt: t0}
}

func TestManifestRoundTripAndRefusals(t *testing.T) {
	key := testKey()
	pub := key.Public().(ed25519.PublicKey)
	b, err := SignManifest(key, goodManifest())
	if err != nil {
		t.Fatal(err)
	}
	m, err := OpenManifest(pub, b)
	if err != nil || m.Version != "2.0.0" || m.Arch != ArchARMHF || m.V != Version {
		t.Fatalf("OpenManifest = %+v, %v", m, err)
	}
	other, _ := GenerateKey()
	if _, err := OpenManifest(other.Public().(ed25519.PublicKey), b); !isReason(err, ReasonBadSignature) {
		t.Fatalf("another key: %v", err)
	}
	// A manifest is not a command, nor the reverse, even with the same key.
	c, _ := SignCommand(key, goodCommand())
	if _, err := OpenManifest(pub, c); !isReason(err, ReasonBadSignature) {
		t.Fatalf("a command opened as a manifest: %v", err)
	}
	for _, bad := range []Manifest{
		{Version: "../x", Arch: ArchAMD64, SHA256: goodManifest().SHA256, Size: 1},
		{Version: "1", Arch: "mips", SHA256: goodManifest().SHA256, Size: 1},
		{Version: "1", Arch: ArchAMD64, SHA256: strings.Repeat("AB", 32), Size: 1},
		{Version: "1", Arch: ArchAMD64, SHA256: goodManifest().SHA256, Size: 0},
		{Version: "1", Arch: ArchAMD64, SHA256: goodManifest().SHA256, Size: MaxReleaseSize + 1},
	} {
		if _, err := SignManifest(key, bad); err == nil {
			t.Errorf("signed %+v", bad)
		}
	}
}

func isReason(err error, reason string) bool {
	re, ok := errors.AsType[*RejectError](err)
	return ok && re.Reason == reason
}

func FuzzOpenManifest(f *testing.F) {
	key := testKey()
	pub := key.Public().(ed25519.PublicKey)
	m, _ := SignManifest(key, goodManifest())
	f.Add(m)
	f.Add([]byte(`{"v":1,"body":{"v":1},"sig":"AAAA"}`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		got, err := OpenManifest(pub, payload)
		if err == nil {
			if got != (Manifest{V: Version, Version: "2.0.0", Arch: ArchARMHF, SHA256: goodManifest().SHA256, Size: 12 << 20, IssuedAt: got.IssuedAt}) || !got.IssuedAt.Equal(t0) {
				t.Fatalf("accepted a manifest the key never signed: %+v", got)
			}
		} else if _, ok := errors.AsType[*RejectError](err); !ok {
			t.Fatalf("non-reject error %T: %v", err, err)
		}
	})
}
