package cloud

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"testing"

	"github.com/dalaba/dalaba/devices/audio"
)

// TestBoxFetchesPlannedClip runs the whole path: upload, plan, and the box
// downloading the clip from the URL its edge config names.
func TestBoxFetchesPlannedClip(t *testing.T) {
	r := startCloud(t, t.TempDir(), nil)
	ec := r.addBox(t, "village-1")
	var wav bytes.Buffer
	if err := audio.EncodeWAV(&wav, audio.PCM{Rate: 8000, Channels: 1, Samples: make([]int16, 8000)}); err != nil {
		t.Fatal(err)
	}
	var clip struct {
		SHA256 string `json:"sha256"`
	}
	r.api(t, "POST", "/api/v1/media?name=clip.wav", wav.String(), &clip, 201)
	fetch := func() (int, []byte) {
		req, err := http.NewRequestWithContext(t.Context(), "GET", ec.Media.URL+clip.SHA256, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.SetBasicAuth(ec.Broker.Username, ec.Broker.Password)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	if code, _ := fetch(); code != 404 {
		t.Fatalf("clip not in the plan: %d, want 404", code)
	}
	plan := fmt.Sprintf(`{"speakers":[{"id":"s1","driver":"soundcard"}],"zones":[{"id":"all","speakers":["s1"]}],
		"schedules":[{"id":"morning","media":[%q],"rule":{"at":["07:30"]}}]}`, clip.SHA256)
	r.api(t, "PUT", "/api/v1/boxes/village-1/broadcast", plan, nil, 200)
	if code, b := fetch(); code != 200 || !bytes.Equal(b, wav.Bytes()) {
		t.Fatalf("planned clip: %d, %d bytes", code, len(b))
	}
	if b := r.box(t, "village-1"); b.DesiredRev != 2 {
		t.Fatalf("desired rev %d after the plan, want 2", b.DesiredRev)
	}
}
