package web

import (
	"errors"
	"fmt"
	"mime"
	"net/http"
	"time"

	"github.com/dalaba/dalaba/cloud/auth"
	"github.com/dalaba/dalaba/cloud/media"
	"github.com/dalaba/dalaba/cloud/store"
)

// multipartSlack is what a multipart upload may carry beyond the clip:
// boundaries, part headers, small fields.
const multipartSlack = 64 << 10

// uploadRetryAfter is the Retry-After, in seconds, of an upload refused as
// busy: about as long as a large upload takes on a village's uplink.
const uploadRetryAfter = "60"

func (s *Server) mediaRoutes() {
	s.route("POST /api/v1/media", auth.ActionManageBroadcast, TargetShared, s.uploadMedia)
	s.route("GET /api/v1/media", auth.ActionViewBroadcast, TargetShared, s.listMedia)
	s.route("GET /api/v1/media/{sha}", auth.ActionViewBroadcast, TargetClip, s.downloadMedia)
}

// mediaJSON is a clip as the API shows it.
type mediaJSON struct {
	SHA256     string    `json:"sha256"`
	Name       string    `json:"name"`
	Format     string    `json:"format"`
	Size       int64     `json:"size"`
	DurationMS int64     `json:"duration_ms"`
	UploadedBy string    `json:"uploaded_by"`
	UploadedAt time.Time `json:"uploaded_at"`
}

func clipJSON(m store.MediaInfo) mediaJSON {
	return mediaJSON{SHA256: m.SHA256, Name: m.Name, Format: m.Format, Size: m.Size, DurationMS: m.DurationMS, UploadedBy: m.UploadedBy, UploadedAt: m.UploadedAt}
}

// uploadMedia takes a clip as the raw body with ?name=, or as the field
// "file" of a multipart form (named by ?name= or the file's name). The body
// may be as large as a clip, not the API's 64 KiB; it streams to the
// library's disk, never whole into memory. When the library's upload slots
// stay taken for its wait, the answer is 503 with Retry-After.
func (s *Server) uploadMedia(w http.ResponseWriter, r *http.Request) {
	max := s.md.MaxBytes()
	name := r.URL.Query().Get("name")
	var m store.MediaInfo
	var err error
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "multipart/form-data" {
		r.Body = http.MaxBytesReader(w, r.Body, max+multipartSlack)
		m, err = s.putMultipart(r, name)
	} else {
		if name == "" {
			refuse(w, CodeBadRequest, errors.New(`name: give the clip's name as ?name=, or upload it as the multipart field "file"`))
			return
		}
		// One byte over the limit reaches Put, which then says how big a
		// clip may be.
		r.Body = http.MaxBytesReader(w, r.Body, max+1)
		m, err = s.md.Put(r.Context(), name, r.Body, userOf(r))
	}
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
		writeError(w, CodeMediaTooLarge, fmt.Sprintf("a clip may be at most %d bytes", max))
		return
	}
	if errors.Is(err, media.ErrBusy) {
		// The library waited for a free upload slot already; the client
		// tries again once one is likely free.
		w.Header().Set("Retry-After", uploadRetryAfter)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	noteAudit(r, nil, map[string]any{"name": m.Name, "size": m.Size, "sha256": m.SHA256}) // never the clip's bytes
	w.Header().Set("Location", "/api/v1/media/"+m.SHA256)
	writeJSON(w, http.StatusCreated, clipJSON(m))
}

func (s *Server) putMultipart(r *http.Request, name string) (store.MediaInfo, error) {
	mr, err := r.MultipartReader()
	if err != nil {
		return store.MediaInfo{}, fmt.Errorf("%w: multipart body: %v", errBadRequest, err)
	}
	for {
		part, err := mr.NextPart()
		if err != nil {
			if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
				return store.MediaInfo{}, err
			}
			return store.MediaInfo{}, fmt.Errorf(`%w: no multipart field "file" (%v)`, errBadRequest, err)
		}
		if part.FormName() != "file" {
			continue
		}
		if name == "" {
			name = part.FileName()
		}
		return s.md.Put(r.Context(), name, part, userOf(r))
	}
}

// listMedia lists the clip library. The library is the county's, one
// store by sha256 that every box's plan may name; a township's user is
// shown the clips uploaded by their township's users and by the county's,
// not another township's (whose names and uploaders are that township's
// business).
func (s *Server) listMedia(w http.ResponseWriter, r *http.Request) {
	all, err := s.st.ListMedia(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	sc := scopeOf(r)
	var unitOf map[string]string // uploader → township
	if !sc.County() {
		us, err := s.auth.Users(r.Context())
		if err != nil {
			s.fail(w, r, err)
			return
		}
		unitOf = make(map[string]string, len(us))
		for _, u := range us {
			unitOf[u.Name] = u.Township
		}
	}
	out := make([]mediaJSON, 0, len(all))
	for _, m := range all {
		if t := unitOf[m.UploadedBy]; sc.County() || t == "" || sc.Covers(t) {
			out = append(out, clipJSON(m))
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// downloadMedia serves a clip to the console, with Range.
func (s *Server) downloadMedia(w http.ResponseWriter, r *http.Request) {
	f, m, err := s.md.Open(r.Context(), r.PathValue("sha"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	defer f.Close()
	w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": m.Name}))
	media.Serve(w, r, f, m)
}
