package web

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/dalaba/dalaba/cloud/media"
	"github.com/dalaba/dalaba/cloud/poster"
	"github.com/dalaba/dalaba/cloud/tts"
)

// Speech reads text aloud (cloud/tts).
type Speech interface {
	Synthesize(ctx context.Context, text string) ([]byte, error)
}

// speak turns a typed policy announcement into a clip of the library: the
// console's "text" announcements, played or scheduled like any upload.
func (s *Server) speak(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Name string `json:"name"`
		Text string `json:"text"`
	}
	if !decode(w, r, &in) {
		return
	}
	if err := media.ValidateName(in.Name); err != nil {
		s.fail(w, r, err)
		return
	}
	wav, err := s.sp.Synthesize(r.Context(), in.Text)
	if err != nil {
		if !errors.Is(err, tts.ErrBadText) {
			err = fmt.Errorf("%w: %w", errSpeech, err) // the engine's failure, not the official's text
		}
		s.fail(w, r, fmt.Errorf("speaking %q: %w", in.Name, err))
		return
	}
	m, err := s.md.Put(r.Context(), in.Name, bytes.NewReader(wav), userOf(r))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/media/"+m.SHA256)
	writeJSON(w, http.StatusCreated, clipJSON(m))
}

// poster is a village's published list of a period as a printable page
// for the 宣传栏; ?size=A3 for the larger board.
func (s *Server) poster(w http.ResponseWriter, r *http.Request) {
	box, ok := pathID(w, r, "box")
	if !ok {
		return
	}
	// The poster is pinned up in public: names and reasons as the
	// township's privacy settings say, entries on notice marked.
	v, err := s.ls.PublicList(r.Context(), box, r.PathValue("period"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	d := s.ls.PosterData(v, "")
	d.Size = r.URL.Query().Get("size")
	var b bytes.Buffer
	if err := poster.Render(&b, d); err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Security-Policy", poster.CSP)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(b.Bytes()) // the client may have gone; nothing to do
}
