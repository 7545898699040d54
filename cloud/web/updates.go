package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"time"

	"github.com/dalaba/dalaba/cloud/auth"
	"github.com/dalaba/dalaba/cloud/release"
	"github.com/dalaba/dalaba/cloud/rollout"
	"github.com/dalaba/dalaba/cloud/store"
	"github.com/dalaba/dalaba/protocol"
)

// Releases is the township's software releases (release.Library).
type Releases interface {
	Begin(ctx context.Context) (*release.Upload, error)
	MaxBytes() int64
	Releases(ctx context.Context) ([]store.Release, error)
}

// Rollouts runs rollouts (rollout.Engine).
type Rollouts interface {
	Start(ctx context.Context, s rollout.Spec) (store.Rollout, error)
	Pause(ctx context.Context, id, reason string) (store.Rollout, error)
	Resume(ctx context.Context, id string) (store.Rollout, error)
	Cancel(ctx context.Context, id string) (store.Rollout, error)
	Rollouts(ctx context.Context) ([]store.Rollout, error)
	Rollout(ctx context.Context, id string) (store.Rollout, error)
}

// Software updates: releases uploaded as multipart (the fields version
// and notes first, then one file per architecture, named amd64, arm64 or
// armhf), streamed to disk; rollouts in waves.
func (s *Server) updateRoutes() {
	s.route("POST /api/v1/releases", auth.ActionManageUpdates, TargetCounty, s.uploadRelease)
	s.route("GET /api/v1/releases", auth.ActionViewUpdates, TargetShared, s.listReleases)
	s.route("POST /api/v1/rollouts", auth.ActionManageUpdates, TargetBody, s.startRollout)
	s.route("GET /api/v1/rollouts", auth.ActionViewUpdates, TargetList, s.listRollouts)
	s.route("GET /api/v1/rollouts/{id}", auth.ActionViewUpdates, TargetRollout, s.getRollout)
	s.route("POST /api/v1/rollouts/{id}/pause", auth.ActionManageUpdates, TargetRollout, s.pauseRollout)
	s.route("POST /api/v1/rollouts/{id}/resume", auth.ActionManageUpdates, TargetRollout, s.resumeRollout)
	s.route("POST /api/v1/rollouts/{id}/cancel", auth.ActionManageUpdates, TargetRollout, s.cancelRollout)
}

type binaryJSON struct {
	Arch   string `json:"arch"`
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
	// Manifest is the signed manifest, as update.install carries it.
	Manifest json.RawMessage `json:"manifest"`
}

type releaseJSON struct {
	Version    string       `json:"version"`
	Notes      string       `json:"notes"`
	Binaries   []binaryJSON `json:"binaries"`
	UploadedBy string       `json:"uploaded_by"`
	UploadedAt time.Time    `json:"uploaded_at"`
}

func toReleaseJSON(r store.Release) releaseJSON {
	out := releaseJSON{Version: r.Version, Notes: r.Notes, UploadedBy: r.UploadedBy, UploadedAt: r.UploadedAt, Binaries: []binaryJSON{}}
	for _, b := range r.Binaries {
		out.Binaries = append(out.Binaries, binaryJSON{Arch: b.Arch, SHA256: b.SHA256, Size: b.Size, Manifest: b.Manifest})
	}
	return out
}

func (s *Server) uploadRelease(w http.ResponseWriter, r *http.Request) {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "multipart/form-data" {
		refuse(w, CodeBadRequest, errors.New("upload a release as multipart/form-data: version, notes, then the files amd64, arm64, armhf"))
		return
	}
	max := s.rel.MaxBytes()
	r.Body = http.MaxBytesReader(w, r.Body, int64(len(protocol.Arches()))*(max+multipartSlack))
	up, err := s.rel.Begin(r.Context())
	if errors.Is(err, release.ErrBusy) {
		w.Header().Set("Retry-After", uploadRetryAfter)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	defer up.Abort()
	mr, err := r.MultipartReader()
	if err != nil {
		refuse(w, CodeBadRequest, fmt.Errorf("multipart body: %v", err))
		return
	}
	var version, notes string
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
				writeError(w, CodeReleaseTooLarge, fmt.Sprintf("a binary may be at most %d bytes", max))
				return
			}
			refuse(w, CodeBadRequest, fmt.Errorf("multipart body: %v", err))
			return
		}
		switch name := part.FormName(); {
		case name == "version" || name == "notes":
			b, err := io.ReadAll(io.LimitReader(part, 8<<10))
			if err != nil {
				refuse(w, CodeBadRequest, fmt.Errorf("field %s: %v", name, err))
				return
			}
			if name == "version" {
				version = string(b)
			} else {
				notes = string(b)
			}
		case slices.Contains(protocol.Arches(), name):
			if err := up.Add(name, part); err != nil {
				if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
					err = fmt.Errorf("%w: %v", release.ErrTooLarge, err)
				}
				s.fail(w, r, err)
				return
			}
		default:
			refuse(w, CodeBadRequest, fmt.Errorf("field %q: want version, notes, amd64, arm64 or armhf", name))
			return
		}
	}
	rel, err := up.Finish(r.Context(), version, notes, userOf(r))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := toReleaseJSON(rel)
	noteAudit(r, nil, out)
	writeJSON(w, http.StatusCreated, out)
}

func (s *Server) listReleases(w http.ResponseWriter, r *http.Request) {
	all, err := s.rel.Releases(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := make([]releaseJSON, 0, len(all))
	for _, rel := range all {
		out = append(out, toReleaseJSON(rel))
	}
	writeJSON(w, http.StatusOK, out)
}

type rolloutBoxJSON struct {
	BoxID  string    `json:"box_id"`
	Wave   int       `json:"wave"`
	State  string    `json:"state"`
	Code   string    `json:"code,omitempty"`
	Detail string    `json:"detail,omitempty"`
	SentAt time.Time `json:"sent_at,omitzero"`
	DoneAt time.Time `json:"done_at,omitzero"`
	Tries  int       `json:"tries"`
}

type rolloutJSON struct {
	ID          string           `json:"id"`
	Version     string           `json:"version"`
	Waves       []int            `json:"waves"`
	MaxFailures int              `json:"max_failures"`
	State       string           `json:"state"`
	Wave        int              `json:"wave"`
	Reason      string           `json:"reason,omitempty"`
	Progress    map[string]int   `json:"progress"`
	Boxes       []rolloutBoxJSON `json:"boxes"`
	CreatedBy   string           `json:"created_by"`
	CreatedAt   time.Time        `json:"created_at"`
	UpdatedAt   time.Time        `json:"updated_at"`
}

func toRolloutJSON(r store.Rollout) rolloutJSON {
	out := rolloutJSON{ID: r.ID, Version: r.Version, Waves: r.Waves, MaxFailures: r.MaxFailures, State: r.State, Wave: r.Wave, Reason: r.Reason,
		CreatedBy: r.CreatedBy, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt, Boxes: []rolloutBoxJSON{},
		Progress: map[string]int{store.BoxWaiting: 0, store.BoxSent: 0, store.BoxUpdated: 0, store.BoxFailed: 0}}
	for _, b := range r.Boxes {
		out.Progress[b.State]++
		out.Boxes = append(out.Boxes, rolloutBoxJSON(b))
	}
	return out
}

func (s *Server) startRollout(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Version     string   `json:"version"`
		Boxes       []string `json:"boxes"`
		Percent     int      `json:"percent"`
		Waves       []int    `json:"waves"`
		MaxFailures int      `json:"max_failures"`
	}
	if !decode(w, r, &in) {
		return
	}
	visible, err := s.visibleBoxes(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if visible != nil {
		// A township's rollout reaches its own boxes only: all of them
		// when none are named, and none of another's.
		if len(in.Boxes) == 0 {
			for id := range visible {
				in.Boxes = append(in.Boxes, id)
			}
			slices.Sort(in.Boxes)
			if len(in.Boxes) == 0 {
				// Never the county's every box, which no boxes means.
				s.fail(w, r, fmt.Errorf("%w: your township has no boxes to roll out to", rollout.ErrInvalid))
				return
			}
		}
		if outside := slices.DeleteFunc(slices.Clone(in.Boxes), func(id string) bool { return visible[id] }); len(outside) > 0 {
			outOfScope(w, outside)
			return
		}
	}
	ro, err := s.ro.Start(r.Context(), rollout.Spec{Version: in.Version, Boxes: in.Boxes, Percent: in.Percent, Waves: in.Waves, MaxFailures: in.MaxFailures, By: userOf(r)})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := toRolloutJSON(ro)
	noteAudit(r, nil, out)
	w.Header().Set("Location", "/api/v1/rollouts/"+ro.ID)
	writeJSON(w, http.StatusCreated, out)
}

func (s *Server) listRollouts(w http.ResponseWriter, r *http.Request) {
	all, err := s.ro.Rollouts(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	visible, err := s.visibleBoxes(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := make([]rolloutJSON, 0, len(all))
	for _, ro := range all {
		if !slices.ContainsFunc(ro.Boxes, func(b store.RolloutBox) bool { return !seesBox(visible, b.BoxID) }) {
			out = append(out, toRolloutJSON(ro))
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) getRollout(w http.ResponseWriter, r *http.Request) {
	ro, err := s.ro.Rollout(r.Context(), r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toRolloutJSON(ro))
}

func (s *Server) pauseRollout(w http.ResponseWriter, r *http.Request) {
	s.changeRollout(w, r, func(ctx context.Context, id string) (store.Rollout, error) {
		return s.ro.Pause(ctx, id, "paused by "+userOf(r))
	})
}

func (s *Server) resumeRollout(w http.ResponseWriter, r *http.Request) {
	s.changeRollout(w, r, s.ro.Resume)
}

func (s *Server) cancelRollout(w http.ResponseWriter, r *http.Request) {
	s.changeRollout(w, r, s.ro.Cancel)
}

func (s *Server) changeRollout(w http.ResponseWriter, r *http.Request, fn func(context.Context, string) (store.Rollout, error)) {
	ro, err := fn(r.Context(), r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := toRolloutJSON(ro)
	noteAudit(r, nil, map[string]any{"id": ro.ID, "state": ro.State})
	writeJSON(w, http.StatusOK, out)
}
