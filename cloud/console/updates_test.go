package console

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/dalaba/dalaba/cloud/store"
	"github.com/dalaba/dalaba/protocol"
)

// The updates page shows each rollout's progress and, for a failed box,
// why in words, never the code alone; only admins get the forms.
func TestUpdatesPageShowsProgressAndWhy(t *testing.T) {
	e := newEnv(t, false)
	ctx := t.Context()
	if err := e.st.PutRelease(ctx, store.Release{Version: "2.0.0", UploadedBy: "admin", UploadedAt: time.Now(),
		Binaries: []store.ReleaseBinary{{Arch: "arm64", SHA256: "ab", Size: 1, Manifest: []byte("m")}}}); err != nil {
		t.Fatal(err)
	}
	if err := e.st.CreateRollout(ctx, store.Rollout{ID: "ro-1", Version: "2.0.0", Waves: []int{50, 100}, State: store.RolloutPaused,
		Reason: "1 boxes failed", CreatedAt: time.Now(), Boxes: []store.RolloutBox{
			{BoxID: "village-1", State: store.BoxUpdated},
			{BoxID: "village-2", State: store.BoxFailed, Code: protocol.RollbackWatchdog}}}); err != nil {
		t.Fatal(err)
	}
	c, _ := e.signedIn(t, store.RoleAdmin)
	a := e.get(t, c, "/updates")
	if a.code != http.StatusOK {
		t.Fatalf("/updates: %d", a.code)
	}
	for _, want := range []string{"已升级 1 台，失败 1 台，共 2 台", "新版本卡住不响应，已退回原版本", `data-act="resume"`, `id="up-upload"`, `id="up-start"`} {
		if !strings.Contains(a.body, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	op, _ := e.signedIn(t, store.RoleOperator)
	if b := e.get(t, op, "/updates").body; strings.Contains(b, `id="up-upload"`) || strings.Contains(b, `data-act=`) || !strings.Contains(b, "village-2") {
		t.Error("an operator may watch the rollout, not change it")
	}
	if code := e.get(t, mustSignIn(t, e, store.RoleViewer), "/updates").code; code != http.StatusForbidden {
		t.Errorf("a viewer on /updates: %d", code)
	}
}

func mustSignIn(t *testing.T, e *env, r store.Role) *http.Client {
	c, _ := e.signedIn(t, r)
	return c
}
