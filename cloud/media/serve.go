package media

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/dalaba/dalaba/cloud/store"
	"github.com/dalaba/dalaba/protocol"
)

// BoxPrefix is the path the box handler serves under; edge configs point
// media.url at <public url>/media/.
const BoxPrefix = "/media/"

// BoxHandler serves GET and HEAD /media/<sha256> to boxes: basic auth with
// the box's id and MQTT secret (401 otherwise), and only a clip the box's
// plan references (a schedule or the chime) or a play command granted it
// (404 otherwise, as for a clip that does not exist, so a box learns
// nothing about other villages' clips). Range and If-Range work, so a box
// resumes a cut download.
func (l *Library) BoxHandler() http.Handler {
	return http.HandlerFunc(l.serveBox)
}

func (l *Library) serveBox(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "use GET", http.StatusMethodNotAllowed)
		return
	}
	user, pass, ok := r.BasicAuth()
	box := ""
	if ok {
		box, ok = l.auth(r.Context(), user, pass)
	}
	if !ok || box == "" {
		w.Header().Set("WWW-Authenticate", `Basic realm="dalaba media", charset="UTF-8"`)
		http.Error(w, "box id and secret required", http.StatusUnauthorized)
		return
	}
	sha := strings.TrimPrefix(r.URL.Path, BoxPrefix)
	allowed, err := l.mayFetch(r.Context(), box, sha)
	if err != nil {
		l.log.Error("media download check failed", "box_id", box, "sha256", sha, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	if !allowed {
		l.log.Debug("media download refused: not referenced", "box_id", box, "sha256", sha)
		http.NotFound(w, r)
		return
	}
	f, m, err := l.Open(r.Context(), sha)
	if errors.Is(err, store.ErrNotFound) {
		http.NotFound(w, r)
		return
	}
	if err != nil {
		l.log.Error("media download failed", "box_id", box, "sha256", sha, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	defer f.Close()
	l.log.Debug("media download", "box_id", box, "sha256", sha, "range", r.Header.Get("Range"))
	Serve(w, r, f, m)
}

// mayFetch reports whether box may download sha: referenced by its plan or
// granted by a play command.
func (l *Library) mayFetch(ctx context.Context, box, sha string) (bool, error) {
	if protocol.ValidateSHA256(sha) != nil {
		return false, nil
	}
	if l.granted(box, sha) {
		return true, nil
	}
	p, err := l.plans.GetPlan(ctx, box)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("plan of %s: %w", box, err)
	}
	return references(p.Broadcast, sha), nil
}

func references(b protocol.Broadcast, sha string) bool {
	if b.Chime == sha {
		return true
	}
	for _, s := range b.Schedules {
		for _, m := range s.Media {
			if m == sha {
				return true
			}
		}
	}
	return false
}

// ContentType is the MIME type of a clip of format ("wav" or "mp3").
func ContentType(format string) string {
	switch format {
	case "wav":
		return "audio/wav"
	case "mp3":
		return "audio/mpeg"
	}
	return "application/octet-stream"
}
