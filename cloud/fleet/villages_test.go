package fleet

import (
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/dalaba/dalaba/cloud/store"
)

// kicks records the sessions the fleet ends.
type kicks struct {
	mu  sync.Mutex
	ids []string
}

func (k *kicks) Kick(id string) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.ids = append(k.ids, id)
	return true
}

func (k *kicks) got() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]string(nil), k.ids...)
}

func newKickEnv(t *testing.T) (*env, *kicks) {
	t.Helper()
	e := newEnv(t)
	k := &kicks{}
	var err error
	e.f, err = New(e.f.cfg, Deps{Logger: slog.New(slog.DiscardHandler), Store: e.st, Key: e.key, Publisher: e.pub, Kicker: k, Now: e.clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	return e, k
}

func TestRegisterKeepsThePlace(t *testing.T) {
	e := newEnv(t)
	b, _, err := e.f.Register(t.Context(), NewBox{ID: "village-1", Name: "一村", Place: "东山片区"})
	if err != nil {
		t.Fatal(err)
	}
	if stored, _ := e.st.GetBox(t.Context(), "village-1"); stored.Place != "东山片区" || b.Place != "东山片区" {
		t.Errorf("place %q, stored %q", b.Place, stored.Place)
	}
	for _, bad := range []string{strings.Repeat("片", MaxPlace+1), "a\nb"} {
		if _, _, err := e.f.Register(t.Context(), NewBox{ID: "village-2", Name: "二村", Place: bad}); !errors.Is(err, ErrInvalid) {
			t.Errorf("place %q: %v, want ErrInvalid", bad, err)
		}
	}
	if _, err := e.st.GetBox(t.Context(), "village-2"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a refused registration was stored: %v", err)
	}
}

func TestEditBox(t *testing.T) {
	e := newEnv(t)
	if _, _, err := e.f.Register(t.Context(), NewBox{ID: "village-1", Name: "一村", Place: "东片"}); err != nil {
		t.Fatal(err)
	}
	name, place := "第一村", "西片"
	if b, err := e.f.EditBox(t.Context(), "village-1", &name, nil); err != nil || b.Name != "第一村" || b.Place != "东片" {
		t.Fatalf("rename: %+v, %v", b, err)
	}
	if b, err := e.f.EditBox(t.Context(), "village-1", nil, &place); err != nil || b.Name != "第一村" || b.Place != "西片" {
		t.Fatalf("move: %+v, %v", b, err)
	}
	empty := ""
	if _, err := e.f.EditBox(t.Context(), "village-1", &empty, nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("an empty name: %v, want ErrInvalid", err)
	}
	if _, err := e.f.EditBox(t.Context(), "nowhere", &name, nil); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("an unknown box: %v, want ErrNotFound", err)
	}
}

// TestRotateBox: the new secret signs in, the old one no longer does,
// the box's live session is ended, and its desired state is untouched.
func TestRotateBox(t *testing.T) {
	e, k := newKickEnv(t)
	ctx := t.Context()
	_, old, err := e.f.AddBox(ctx, "village-1", "一村")
	if err != nil {
		t.Fatal(err)
	}
	a, err := NewAuthenticator(e.st, "dalaba_cloud")
	if err != nil {
		t.Fatal(err)
	}
	b, secret, err := e.f.RotateBox(ctx, "village-1")
	if err != nil {
		t.Fatal(err)
	}
	if secret == old || len(secret) != 43 || b.ID != "village-1" || b.DesiredRev != 1 {
		t.Fatalf("rotated %+v with secret %q (old %q)", b, secret, old)
	}
	if _, ok := a.Authenticate(ctx, "village-1", []byte(old)); ok {
		t.Error("the old secret still signs in")
	}
	if id, ok := a.Authenticate(ctx, "village-1", []byte(secret)); !ok || id.Box != "village-1" {
		t.Errorf("the new secret: %+v, %v", id, ok)
	}
	if got := k.got(); len(got) != 1 || got[0] != "village-1" {
		t.Errorf("sessions ended: %v, want the box's", got)
	}
	if cfg, err := e.f.EdgeConfig(b, secret); err != nil || !strings.Contains(cfg, "password: "+secret) {
		t.Errorf("the edge config after rotation lacks the new secret (%v):\n%s", err, cfg)
	}
	if _, _, err := e.f.RotateBox(ctx, "nowhere"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("rotating an unknown box: %v, want ErrNotFound", err)
	}
}

// TestRetireBox: a retired box signs in with nothing, its session is
// ended, nothing more is signed for it, it cannot be rotated, and its
// events stay.
func TestRetireBox(t *testing.T) {
	e, k := newKickEnv(t)
	ctx := t.Context()
	_, secret, err := e.f.AddBox(ctx, "village-1", "一村")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.AppendEvents(ctx, "village-1", store.Batch{Floor: 1, Events: []store.Event{{Seq: 1, Time: e.clk.Now(), Type: "x", Data: []byte(`{}`)}}}); err != nil {
		t.Fatal(err)
	}
	if err := e.st.UpdateBox(ctx, "village-1", func(b *store.Box) error { b.Online = true; return nil }); err != nil {
		t.Fatal(err)
	}
	a, _ := NewAuthenticator(e.st, "dalaba_cloud")
	b, err := e.f.RetireBox(ctx, "village-1")
	if err != nil {
		t.Fatal(err)
	}
	if !b.Retired() || !b.RetiredAt.Equal(e.clk.Now()) || b.Online || len(b.SecretHash) != 0 {
		t.Fatalf("retired box %+v", b)
	}
	if _, ok := a.Authenticate(ctx, "village-1", []byte(secret)); ok {
		t.Error("a retired box still signs in")
	}
	if got := k.got(); len(got) != 1 || got[0] != "village-1" {
		t.Errorf("sessions ended: %v, want the box's", got)
	}
	if n, err := e.st.CountEvents(ctx, "village-1"); err != nil || n != 1 {
		t.Errorf("the retired box's events: %d, %v", n, err)
	}
	if _, _, err := e.f.RotateBox(ctx, "village-1"); !errors.Is(err, ErrRetired) {
		t.Errorf("rotating a retired box: %v, want ErrRetired", err)
	}
	if _, err := e.f.SetSpec(ctx, "village-1", []byte(`{}`)); !errors.Is(err, ErrRetired) {
		t.Errorf("a desired state for a retired box: %v, want ErrRetired", err)
	}
	published := e.pub.count()
	e.clk.Add(validity)
	e.f.Refresh(ctx)
	if e.pub.count() != published {
		t.Error("Refresh signed and published for a retired box")
	}
	again, err := e.f.RetireBox(ctx, "village-1")
	if err != nil || !again.RetiredAt.Equal(b.RetiredAt) {
		t.Errorf("retiring again: %+v, %v; want it unchanged", again, err)
	}
}
