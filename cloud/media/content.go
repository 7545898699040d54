package media

import (
	"io"
	"net/http"

	"github.com/dalaba/dalaba/cloud/store"
)

// Serve writes clip m from rs with http.ServeContent: Range, If-Range and
// HEAD work. The ETag is the sha256, which never changes for a path, so a
// resumed download can never splice two different files.
func Serve(w http.ResponseWriter, r *http.Request, rs io.ReadSeeker, m store.MediaInfo) {
	h := w.Header()
	h.Set("Content-Type", ContentType(m.Format))
	h.Set("ETag", `"`+m.SHA256+`"`)
	h.Set("Cache-Control", "private, max-age=31536000, immutable")
	h.Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(w, r, "", m.UploadedAt, rs)
}
