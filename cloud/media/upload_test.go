package media

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"github.com/dalaba/dalaba/internal/testenv"
)

// clipSHA is the sha256 of the clip newClipStream(size, seed) makes.
func clipSHA(t testing.TB, size int64, seed uint32) string {
	t.Helper()
	h := sha256.New()
	if _, err := io.Copy(h, newClipStream(size, seed)); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func TestParallelLargeUploadsAreAllStoredWhole(t *testing.T) {
	const (
		uploads = 6
		size    = 6 << 20 // 71 s each
	)
	e := newEnv(t)
	e.lib.cfg.MaxBytes = 8 << 20
	e.lib.slots = make(chan struct{}, 2) // the others wait their turn
	srv := uploadServer(t, e.lib)
	got := make([]string, uploads)
	var wg sync.WaitGroup
	for i := range uploads {
		wg.Go(func() {
			code, body, err := postClip(t.Context(), srv.URL, fmt.Sprintf("clip-%d.wav", i), newClipStream(size, uint32(i)))
			if err != nil || code != 200 {
				t.Errorf("upload %d: %d %s %v", i, code, body, err)
			}
			got[i] = body
		})
	}
	wg.Wait()
	for i := range uploads {
		want := clipSHA(t, size, uint32(i))
		if got[i] != want {
			t.Errorf("upload %d answered %q, want its sha256 %s", i, got[i], want)
			continue
		}
		m, err := e.st.GetMedia(t.Context(), want)
		if err != nil || m.Size != size || m.Format != "wav" || m.DurationMS != (size-44)/2*1000/44100 || m.Name != fmt.Sprintf("clip-%d.wav", i) {
			t.Errorf("upload %d indexed as %+v, %v", i, m, err)
		}
		f, err := os.Open(filepath.Join(e.dir, want))
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil || hex.EncodeToString(h.Sum(nil)) != want {
			t.Errorf("upload %d: the file on disk is not the clip (%v)", i, err)
		}
	}
	if tmp, _ := os.ReadDir(filepath.Join(e.dir, "tmp")); len(tmp) != 0 {
		t.Errorf("temporary files left: %v", tmp)
	}
	if len(e.lib.slots) != 0 {
		t.Errorf("%d upload slots still held", len(e.lib.slots))
	}
}

// holdSlot starts a Put whose body never ends until the returned function
// fails it, and returns once that Put holds an upload slot and is writing
// its temporary file.
func holdSlot(t *testing.T, e *env) (fail func()) {
	t.Helper()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		_, err := e.lib.Put(context.Background(), "slow.wav", pr, "x")
		done <- err
	}()
	if _, err := pw.Write(wav(t, 1)[:1000]); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, 5*time.Second, "the slow upload's temporary file", func() bool {
		tmp, _ := os.ReadDir(filepath.Join(e.dir, "tmp"))
		return len(tmp) == 1
	})
	return func() {
		pw.CloseWithError(errors.New("client went away"))
		if err := <-done; err == nil || !strings.Contains(err.Error(), "client went away") {
			t.Errorf("the slow upload: %v, want the client's error", err)
		}
	}
}

func TestUploadsBeyondTheBoundWaitThenAreRefusedAsBusy(t *testing.T) {
	e := newEnv(t)
	e.lib.slots = make(chan struct{}, 1)
	e.lib.cfg.UploadWait = 50 * time.Millisecond
	fail := holdSlot(t, e)

	_, err := e.lib.Put(t.Context(), "next.wav", bytes.NewReader(wav(t, 1)), "x")
	if !errors.Is(err, ErrBusy) {
		t.Fatalf("Put while the only slot is held: %v, want ErrBusy", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := e.lib.Put(ctx, "gone.wav", bytes.NewReader(wav(t, 1)), "x"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Put from a client that gave up: %v, want its context's error", err)
	}

	fail()
	if files := e.files(t); len(files) != 0 {
		t.Fatalf("a failed upload left %v", files)
	}
	if _, err := e.lib.Put(t.Context(), "next.wav", bytes.NewReader(wav(t, 1)), "x"); err != nil {
		t.Fatalf("Put once the slot is free: %v", err)
	}
}

func TestAnUploadCutOffLeavesNothing(t *testing.T) {
	e := newEnv(t)
	clip := wav(t, 2)
	r := io.MultiReader(bytes.NewReader(clip[:len(clip)/2]), iotest.ErrReader(errors.New("connection reset")))
	if _, err := e.lib.Put(t.Context(), "cut.wav", r, "x"); err == nil || !strings.Contains(err.Error(), "connection reset") {
		t.Fatalf("Put = %v, want the reader's error", err)
	}
	if files := e.files(t); len(files) != 0 {
		t.Fatalf("a cut upload left %v", files)
	}
	if all, err := e.st.ListMedia(t.Context()); err != nil || len(all) != 0 {
		t.Fatalf("a cut upload was indexed: %v %v", all, err)
	}
}
