package web

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"runtime"
	"testing"

	"github.com/dalaba/dalaba/cloud/store"
	"github.com/dalaba/dalaba/protocol"
)

// uploadRelease posts a release as multipart: fields, then files.
func (e *env) uploadRelease(t *testing.T, token, version string, files map[string][]byte) (int, map[string]any) {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	if err := mw.WriteField("version", version); err != nil {
		t.Fatal(err)
	}
	if err := mw.WriteField("notes", "修复 / fixes"); err != nil {
		t.Fatal(err)
	}
	for arch, b := range files {
		w, err := mw.CreateFormFile(arch, "dalaba-edge")
		if err != nil {
			t.Fatal(err)
		}
		w.Write(b)
	}
	mw.Close()
	req, _ := http.NewRequest("POST", e.srv.URL+"/api/v1/releases", &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	json.Unmarshal(raw, &out)
	if resp.StatusCode >= 400 {
		checkProblem(t, "POST /api/v1/releases", resp.StatusCode, raw)
	}
	return resp.StatusCode, out
}

func TestReleasesAreCheckedSignedAndRolledOut(t *testing.T) {
	e := newEnv(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	prog, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	arch := protocol.GoArch(goarch())
	admin := e.tokens[store.RoleAdmin]

	if code, _ := e.uploadRelease(t, e.tokens[store.RoleOperator], "2.0", map[string][]byte{arch: prog}); code != http.StatusForbidden {
		t.Fatalf("an operator uploaded a release: %d", code)
	}
	wrong := protocol.ArchARMHF
	if arch == wrong {
		wrong = protocol.ArchAMD64
	}
	if code, out := e.uploadRelease(t, admin, "2.0", map[string][]byte{wrong: prog}); code != http.StatusBadRequest || out["code"] != string(CodeReleaseInvalid) {
		t.Fatalf("a %s program uploaded as %s: %d %v", arch, wrong, code, out)
	}
	if code, out := e.uploadRelease(t, admin, "2.0", map[string][]byte{arch: []byte("#!/bin/sh\n")}); code != http.StatusBadRequest || out["code"] != string(CodeReleaseInvalid) {
		t.Fatalf("a script uploaded: %d %v", code, out)
	}
	if code, out := e.uploadRelease(t, admin, "2.0", map[string][]byte{arch: prog}); code != http.StatusCreated {
		t.Fatalf("upload: %d %v", code, out)
	}
	if code, _ := e.uploadRelease(t, admin, "2.0", map[string][]byte{arch: prog}); code != http.StatusConflict {
		t.Fatalf("the same version twice: %d", code)
	}
	rel, err := e.st.GetRelease(t.Context(), "2.0")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := rel.Binary(arch)
	m, err := protocol.OpenManifest(e.key.Public().(ed25519.PublicKey), b.Manifest)
	if err != nil || m.Version != "2.0" || m.Arch != arch || m.Size != int64(len(prog)) || m.SHA256 != b.SHA256 {
		t.Fatalf("manifest %+v, %v", m, err)
	}

	var ro struct {
		ID       string         `json:"id"`
		State    string         `json:"state"`
		Progress map[string]int `json:"progress"`
	}
	if code := e.call(t, admin, "POST", "/api/v1/rollouts", `{"version":"9.9"}`, nil); code != http.StatusBadRequest {
		t.Fatalf("a rollout of no release: %d", code)
	}
	if _, _, err := e.fl.AddBox(t.Context(), "village-1", "一村"); err != nil {
		t.Fatal(err)
	}
	if code := e.call(t, admin, "POST", "/api/v1/rollouts", `{"version":"2.0","waves":[50,100]}`, &ro); code != http.StatusCreated || ro.State != store.RolloutRunning || ro.Progress["waiting"] != 1 {
		t.Fatalf("start: %d %+v", code, ro)
	}
	if code := e.call(t, admin, "POST", "/api/v1/rollouts/"+ro.ID+"/pause", "", &ro); code != 200 || ro.State != store.RolloutPaused {
		t.Fatalf("pause: %d %+v", code, ro)
	}
	if code := e.call(t, e.tokens[store.RoleOperator], "GET", "/api/v1/rollouts/"+ro.ID, "", &ro); code != 200 || ro.State != store.RolloutPaused {
		t.Fatalf("an operator reads the rollout: %d %+v", code, ro)
	}
	if code := e.call(t, admin, "POST", "/api/v1/rollouts/"+ro.ID+"/cancel", "", &ro); code != 200 || ro.State != store.RolloutCancelled {
		t.Fatalf("cancel: %d %+v", code, ro)
	}
	if code := e.call(t, admin, "POST", "/api/v1/rollouts/"+ro.ID+"/resume", "", nil); code != http.StatusConflict {
		t.Fatalf("resume a cancelled rollout: %d", code)
	}
}

func goarch() string { return runtime.GOARCH }
