package release_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/dalaba/dalaba/cloud/release"
	"github.com/dalaba/dalaba/cloud/store/boltstore"
	"github.com/dalaba/dalaba/protocol"
)

func library(t *testing.T, maxUploads int) (*release.Library, ed25519.PublicKey) {
	t.Helper()
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "cloud.db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	key, err := protocol.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	l, err := release.New(release.Config{Dir: t.TempDir(), MaxUploads: maxUploads, UploadWait: 1},
		release.Deps{Store: st, Key: key, BoxAuth: func(_ context.Context, user, pass string) (string, bool) {
			return user, user == "village-1" && pass == "secret"
		}})
	if err != nil {
		t.Fatal(err)
	}
	return l, key.Public().(ed25519.PublicKey)
}

func program(t *testing.T) []byte {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestBoxesDownloadWithTheirCredentialsAndRange(t *testing.T) {
	l, pub := library(t, 1)
	prog := program(t)
	arch := protocol.GoArch(runtime.GOARCH)
	up, err := l.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := up.Add(arch, bytes.NewReader(prog)); err != nil {
		t.Fatal(err)
	}
	rel, err := up.Finish(t.Context(), "2.0.0", "", "admin")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := rel.Binary(arch)
	if m, err := protocol.OpenManifest(pub, b.Manifest); err != nil || m.SHA256 != b.SHA256 {
		t.Fatalf("manifest %+v, %v", m, err)
	}
	srv := httptest.NewServer(l.BoxHandler())
	defer srv.Close()
	get := func(user, rng string) (*http.Response, []byte) {
		req, _ := http.NewRequest("GET", srv.URL+release.BoxPrefix+b.SHA256, nil)
		if user != "" {
			req.SetBasicAuth(user, "secret")
		}
		if rng != "" {
			req.Header.Set("Range", rng)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp, body
	}
	if resp, _ := get("", ""); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("without credentials: %d", resp.StatusCode)
	}
	if resp, _ := get("village-2", ""); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("with wrong credentials: %d", resp.StatusCode)
	}
	if resp, body := get("village-1", "bytes=100-"); resp.StatusCode != http.StatusPartialContent || !bytes.Equal(body, prog[100:]) {
		t.Fatalf("a resumed download: %d, %d bytes", resp.StatusCode, len(body))
	}
}

func TestRefusedUploadsLeaveNothing(t *testing.T) {
	l, _ := library(t, 1)
	up, err := l.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	// The slot is held: a second upload waits, then is told busy.
	if _, err := l.Begin(t.Context()); !errors.Is(err, release.ErrBusy) {
		t.Fatalf("a second upload at once: %v, want ErrBusy", err)
	}
	if err := up.Add("mips", bytes.NewReader(program(t))); !errors.Is(err, release.ErrInvalid) {
		t.Fatalf("an unknown architecture: %v", err)
	}
	if _, err := up.Finish(t.Context(), "2.0.0", "", "admin"); !errors.Is(err, release.ErrInvalid) {
		t.Fatalf("a release with no binary: %v", err)
	}
	if all, err := l.Releases(t.Context()); err != nil || len(all) != 0 {
		t.Fatalf("releases after refusals: %v, %v", all, err)
	}
	// Finish freed the slot.
	up2, err := l.Begin(t.Context())
	if err != nil {
		t.Fatalf("after Finish: %v", err)
	}
	up2.Abort()
}
