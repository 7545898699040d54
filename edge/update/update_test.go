package update

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/dalaba/dalaba/edge/clock"
	"github.com/dalaba/dalaba/edge/command"
	"github.com/dalaba/dalaba/edge/slot"
	"github.com/dalaba/dalaba/protocol"
)

// release is a real program (this test's own binary) served over HTTP.
type release struct {
	bin []byte
	sha string
	key ed25519.PrivateKey
	srv *httptest.Server

	mu     sync.Mutex
	cutAt  int64    // the first full GET stops after this many bytes (0: never)
	ranges []string // Range headers seen
}

func newRelease(t *testing.T) *release {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(bin)
	key, err := protocol.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	r := &release{bin: bin, sha: hex.EncodeToString(sum[:]), key: key}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *release) serve(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	r.ranges = append(r.ranges, req.Header.Get("Range"))
	cut := r.cutAt
	r.cutAt = 0
	r.mu.Unlock()
	if cut > 0 && req.Header.Get("Range") == "" {
		// The link drops mid-download.
		w.Header().Set("Content-Length", "999999999")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(r.bin[:cut])
		panic(http.ErrAbortHandler)
	}
	http.ServeContent(w, req, "dalaba-edge", time.Time{}, bytes.NewReader(r.bin))
}

func (r *release) manifest(t *testing.T, key ed25519.PrivateKey, arch string) []byte {
	t.Helper()
	b, err := protocol.SignManifest(key, protocol.Manifest{Version: "2.0", Arch: arch, SHA256: r.sha, Size: int64(len(r.bin)), IssuedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type box struct {
	u        *Updater
	slots    slot.Dir
	restarts []string
}

func newBox(t *testing.T, r *release) *box {
	t.Helper()
	b := &box{slots: slot.Dir{Path: filepath.Join(t.TempDir(), "slots")}}
	old := filepath.Join(t.TempDir(), "old")
	if err := os.WriteFile(old, []byte("the running software"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := b.slots.Seed(old, "1.0"); err != nil {
		t.Fatal(err)
	}
	u, err := New(Config{Dir: filepath.Join(t.TempDir(), "update"), Slots: b.slots, Arch: protocol.GoArch(runtime.GOARCH),
		CommitAfter: time.Minute, TrialTimeout: 10 * time.Minute},
		Deps{Clock: clock.Real(), Key: r.key.Public().(ed25519.PublicKey), Version: "1.0",
			Record:  func(context.Context, string, protocol.Priority, any) error { return nil },
			OnAir:   func() bool { return false },
			Healthy: func() bool { return true },
			Restart: func(id, _ string) { b.restarts = append(b.restarts, id) }})
	if err != nil {
		t.Fatal(err)
	}
	b.u = u
	return b
}

func (b *box) install(t *testing.T, manifest []byte, url string) (any, error) {
	t.Helper()
	a := protocol.UpdateArgs{Manifest: manifest, URL: url}
	if err := a.Validate(); err != nil {
		t.Fatal(err)
	}
	return b.u.install(t.Context(), protocol.Command{ID: "c1"}, a)
}

func (b *box) mustBeUntouched(t *testing.T) {
	t.Helper()
	s, err := b.slots.Load()
	if err != nil {
		t.Fatal(err)
	}
	if s.Active != slot.A || s.Trial || s.Version() != "1.0" || len(b.restarts) != 0 {
		t.Fatalf("slots changed by a refused update: %+v, restarts %v", s, b.restarts)
	}
	if _, err := os.Stat(b.slots.Binary(slot.B)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("slot b was written: %v", err)
	}
}

func code(err error) string {
	if c, ok := errors.AsType[command.Coded](err); ok {
		return c.ResultCode()
	}
	return ""
}

func TestAVerifiedReleaseIsStagedOnTrial(t *testing.T) {
	r := newRelease(t)
	b := newBox(t, r)
	res, err := b.install(t, r.manifest(t, r.key, arch()), r.srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if st, ok := res.(protocol.UpdateStaged); !ok || st.Version != "2.0" || st.Slot != slot.B {
		t.Fatalf("result %+v", res)
	}
	s, _ := b.slots.Load()
	if !s.Trial || s.Active != slot.B || s.Version() != "2.0" || len(b.restarts) != 1 {
		t.Fatalf("after install: %+v, restarts %v", s, b.restarts)
	}
	got, err := os.ReadFile(b.slots.Binary(slot.B))
	if err != nil || string(got) != string(r.bin) {
		t.Fatalf("slot b does not hold the release (%v)", err)
	}
}

func TestACutDownloadResumesWithRange(t *testing.T) {
	r := newRelease(t)
	b := newBox(t, r)
	r.cutAt = int64(len(r.bin) / 3)
	m := r.manifest(t, r.key, arch())
	if _, err := b.install(t, m, r.srv.URL); err == nil {
		t.Fatal("a cut download was taken for whole")
	}
	b.mustBeUntouched(t)
	if _, err := b.install(t, m, r.srv.URL); err != nil {
		t.Fatalf("the resumed download: %v", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.ranges) != 2 || r.ranges[1] == "" {
		t.Fatalf("requests' Range headers %q: want the second to resume", r.ranges)
	}
	if s, _ := b.slots.Load(); s.Version() != "2.0" {
		t.Fatalf("not staged after resuming: %+v", s)
	}
}

func TestRefusedBeforeAnythingIsReplaced(t *testing.T) {
	r := newRelease(t)
	other, err := protocol.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	wrongArch := protocol.ArchARMHF
	if protocol.GoArch(runtime.GOARCH) == wrongArch {
		wrongArch = protocol.ArchAMD64
	}
	tampered := append([]byte(nil), r.manifest(t, r.key, arch())...)
	tampered[len(tampered)/3] ^= 1
	for _, tc := range []struct {
		name     string
		manifest []byte
		code     string
	}{
		{"signed by another key", r.manifest(t, other, protocol.GoArch(runtime.GOARCH)), protocol.CodeUpdateSignature},
		{"tampered", tampered, protocol.CodeUpdateSignature},
		{"another architecture", r.manifest(t, r.key, wrongArch), protocol.CodeUpdateArch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newBox(t, r)
			r.mu.Lock()
			r.ranges = nil
			r.mu.Unlock()
			_, err := b.install(t, tc.manifest, r.srv.URL)
			if code(err) != tc.code {
				t.Fatalf("install = %v (code %q), want code %s", err, code(err), tc.code)
			}
			b.mustBeUntouched(t)
			r.mu.Lock()
			defer r.mu.Unlock()
			if len(r.ranges) != 0 {
				t.Fatal("the box downloaded a release it had to refuse")
			}
		})
	}
}

func TestBytesThatDoNotMatchAreRefused(t *testing.T) {
	r := newRelease(t)
	b := newBox(t, r)
	good := r.bin
	r.bin = append([]byte(nil), good...)
	r.bin[len(r.bin)/2] ^= 0xff // same size, other bytes
	m, err := protocol.SignManifest(r.key, protocol.Manifest{Version: "2.0", Arch: protocol.GoArch(runtime.GOARCH), SHA256: hex.EncodeToString(func() []byte { s := sha256.Sum256(good); return s[:] }()), Size: int64(len(good))})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.install(t, m, r.srv.URL); code(err) != protocol.CodeUpdateDigest {
		t.Fatalf("install = %v, want %s", err, protocol.CodeUpdateDigest)
	}
	b.mustBeUntouched(t)
}

func TestNotDuringABroadcast(t *testing.T) {
	r := newRelease(t)
	b := newBox(t, r)
	b.u.d.OnAir = func() bool { return true }
	if _, err := b.install(t, r.manifest(t, r.key, arch()), r.srv.URL); code(err) != protocol.CodeUpdateOnAir {
		t.Fatalf("install on the air = %v, want %s", err, protocol.CodeUpdateOnAir)
	}
	b.mustBeUntouched(t)
}

func arch() string { return protocol.GoArch(runtime.GOARCH) }
