package web

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/dalaba/dalaba/cloud/auth"
	"github.com/dalaba/dalaba/cloud/bulk"
	"github.com/dalaba/dalaba/cloud/media"
	"github.com/dalaba/dalaba/cloud/tts"
	"github.com/dalaba/dalaba/protocol"
)

// Jobs runs plan changes over many boxes (*bulk.Jobs).
type Jobs interface {
	Submit(by, place string, change bulk.Change, boxes []string) (bulk.Job, error)
	Get(id string) (bulk.Job, bool)
	List() []bulk.Job
}

// A plan change pushed to many boxes at once: a schedule (or a typed
// announcement, spoken once, as a schedule) added to or taken out of
// every village of a township, or of the boxes listed, as a job whose
// progress is read box by box.
func (s *Server) jobRoutes() {
	s.route("POST /api/v1/plan-jobs", auth.ActionManageBroadcast, TargetBody, s.submitJob)
	s.route("GET /api/v1/plan-jobs", auth.ActionViewBroadcast, TargetList, s.listJobs)
	s.route("GET /api/v1/plan-jobs/{job}", auth.ActionViewBroadcast, TargetJob, s.getJob)
}

// jobIn is a bulk plan change as the API takes it.
type jobIn struct {
	// Place chooses every box in service whose place begins with it;
	// Boxes names them instead. One of the two.
	Place string   `json:"place"`
	Boxes []string `json:"boxes"`
	// Schedule is added, or replaces the box's schedule of its id.
	Schedule *protocol.Schedule `json:"schedule"`
	// Announcement, with Schedule, is spoken first and becomes the
	// schedule's one clip.
	Announcement *struct {
		Name string `json:"name"`
		Text string `json:"text"`
	} `json:"announcement"`
	// DeleteSchedule is the id of a schedule to take out instead.
	DeleteSchedule string `json:"delete_schedule"`
}

func (s *Server) submitJob(w http.ResponseWriter, r *http.Request) {
	var in jobIn
	if !decode(w, r, &in) {
		return
	}
	boxes, err := s.jobBoxes(r, in)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	visible, err := s.visibleBoxes(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if outside := slices.DeleteFunc(slices.Clone(boxes), func(id string) bool { return seesBox(visible, id) }); len(outside) > 0 {
		outOfScope(w, outside)
		return
	}
	change := bulk.Change{Schedule: in.Schedule, DeleteSchedule: in.DeleteSchedule}
	if in.Announcement != nil {
		if in.Schedule == nil {
			s.fail(w, r, fmt.Errorf("%w: an announcement needs the schedule it plays on", bulk.ErrInvalid))
			return
		}
		sha, ok := s.speakClip(w, r, in.Announcement.Name, in.Announcement.Text)
		if !ok {
			return
		}
		sch := *in.Schedule
		sch.Media = []string{sha}
		change.Schedule = &sch
	}
	j, err := s.jobs.Submit(userOf(r), in.Place, change, boxes)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/plan-jobs/"+j.ID)
	writeJSON(w, http.StatusAccepted, jobOut(j))
}

// jobBoxes are the boxes a job is for: in service, each once, in id order.
func (s *Server) jobBoxes(r *http.Request, in jobIn) ([]string, error) {
	place := strings.TrimSpace(in.Place)
	if (place == "") == (len(in.Boxes) == 0) {
		return nil, fmt.Errorf("%w: give a place or boxes, one of them", bulk.ErrInvalid)
	}
	all, err := s.st.ListBoxes(r.Context())
	if err != nil {
		return nil, err
	}
	var out []string
	if place != "" {
		// A place chooses among the villages of the caller's scope only.
		sc := scopeOf(r)
		for _, b := range all {
			if !b.Retired() && strings.HasPrefix(b.Place, place) && sc.Covers(b.Township) {
				out = append(out, b.ID)
			}
		}
		if len(out) == 0 {
			return nil, fmt.Errorf("%w: no box in service in %q", bulk.ErrInvalid, place)
		}
		return out, nil
	}
	inService := make(map[string]bool, len(all))
	for _, b := range all {
		inService[b.ID] = !b.Retired()
	}
	var bad []string
	for _, id := range in.Boxes {
		if !inService[id] {
			bad = append(bad, id)
		}
	}
	if len(bad) > 0 {
		return nil, fmt.Errorf("%w: not boxes in service: %s", bulk.ErrInvalid, strings.Join(bad[:min(len(bad), 20)], ", "))
	}
	out = slices.Clone(in.Boxes)
	slices.Sort(out)
	return slices.Compact(out), nil
}

// speakClip reads text aloud into the library, as POST /api/v1/media/speech
// does; otherwise it has answered.
func (s *Server) speakClip(w http.ResponseWriter, r *http.Request, name, text string) (string, bool) {
	if s.sp == nil {
		s.fail(w, r, fmt.Errorf("%w: no speech engine is set up; upload a clip and give the schedule its sha256", bulk.ErrInvalid))
		return "", false
	}
	if err := media.ValidateName(name); err != nil {
		s.fail(w, r, err)
		return "", false
	}
	wav, err := s.sp.Synthesize(r.Context(), text)
	if err != nil {
		if !errors.Is(err, tts.ErrBadText) {
			err = fmt.Errorf("%w: %w", errSpeech, err)
		}
		s.fail(w, r, fmt.Errorf("speaking %q: %w", name, err))
		return "", false
	}
	m, err := s.md.Put(r.Context(), name, bytes.NewReader(wav), userOf(r))
	if err != nil {
		s.fail(w, r, err)
		return "", false
	}
	return m.SHA256, true
}

// listJobs lists the jobs; a township's user sees those whose every box
// lies in their scope.
func (s *Server) listJobs(w http.ResponseWriter, r *http.Request) {
	visible, err := s.visibleBoxes(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := []bulk.Job{}
	for _, j := range s.jobs.List() {
		if visible != nil {
			// The list leaves the boxes out; the job itself has them.
			full, ok := s.jobs.Get(j.ID)
			if !ok || slices.ContainsFunc(full.Boxes, func(b bulk.Box) bool { return !seesBox(visible, b.ID) }) {
				continue
			}
		}
		out = append(out, j)
	}
	writeJSON(w, http.StatusOK, map[string]any{"jobs": out})
}

func (s *Server) getJob(w http.ResponseWriter, r *http.Request) {
	j, ok := s.jobs.Get(r.PathValue("job"))
	if !ok {
		writeError(w, CodeNotFound, "no such plan job (jobs are kept in memory, the latest 50, until the service restarts)")
		return
	}
	writeJSON(w, http.StatusOK, jobOut(j))
}

// jobBox is a box of a job as the API shows it: a failure by its code and
// the message an API error would carry, never the chain it came through.
type jobBox struct {
	ID    string `json:"id"`
	State string `json:"state"`
	Rev   uint64 `json:"rev,omitempty"`
	Code  Code   `json:"code,omitempty"`
	Error string `json:"error,omitempty"`
}

type jobJSON struct {
	bulk.Job
	Boxes []jobBox `json:"boxes"`
}

func jobOut(j bulk.Job) jobJSON {
	out := jobJSON{Job: j, Boxes: make([]jobBox, len(j.Boxes))}
	for i, b := range j.Boxes {
		out.Boxes[i] = jobBox{ID: b.ID, State: b.State, Rev: b.Rev}
		if b.Err != nil {
			code, sentinel := classify(b.Err)
			out.Boxes[i].Code, out.Boxes[i].Error = code, strings.Join(problems(b.Err, sentinel), "; ")
		}
	}
	return out
}
