package web

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/dalaba/dalaba/cloud/auth"
	"github.com/dalaba/dalaba/cloud/store"
)

// Sentinels of the townships and the scope checks handlers make.
var (
	errTownship   = errors.New("web: township")
	errOutOfScope = errors.New("web: outside the user's township")
	errCountyOnly = errors.New("web: county users only")
)

// Townships: the units of the county. Everyone signed in reads the
// townships in their scope (a township's user, their own); only a county
// admin creates and renames one (auth.ActionManageTownships) and moves a
// box between them. Townships are never deleted.
func (s *Server) townshipRoutes() {
	s.route("GET /api/v1/townships", auth.ActionSignedIn, TargetList, s.listTownships)
	s.route("POST /api/v1/townships", auth.ActionManageTownships, TargetCounty, s.createTownship)
	s.route("GET /api/v1/townships/{tid}", auth.ActionSignedIn, TargetTownship, s.getTownship)
	s.route("PUT /api/v1/townships/{tid}", auth.ActionManageTownships, TargetCounty, s.renameTownship)
	s.route("PUT /api/v1/boxes/{id}/township", auth.ActionManageTownships, TargetBox, s.moveBox)
}

// townshipID is what a township's id looks like: "t-" and a lowercase
// slug, so it reads well in paths and logs.
var townshipID = regexp.MustCompile(`^t-[a-z0-9][a-z0-9-]{0,38}$`)

type townshipJSON struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
}

func toTownshipJSON(t store.Township) townshipJSON {
	return townshipJSON{ID: t.ID, Name: t.Name, CreatedAt: t.CreatedAt}
}

func checkTownshipName(name string) error {
	if n := utf8.RuneCountInString(strings.TrimSpace(name)); n == 0 || n > 40 || !utf8.ValidString(name) {
		return fmt.Errorf("%w: a township's name is 1-40 characters", errTownship)
	}
	return nil
}

func (s *Server) listTownships(w http.ResponseWriter, r *http.Request) {
	ts, err := s.st.ListTownships(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	sc := scopeOf(r)
	out := make([]townshipJSON, 0, len(ts))
	for _, t := range ts {
		if sc.Covers(t.ID) {
			out = append(out, toTownshipJSON(t))
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) getTownship(w http.ResponseWriter, r *http.Request) {
	t, err := s.st.GetTownship(r.Context(), r.PathValue("tid"))
	s.answer(w, r, http.StatusOK, toTownshipJSON(t), err)
}

func (s *Server) createTownship(w http.ResponseWriter, r *http.Request) {
	var in struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	}
	if !decode(w, r, &in) {
		return
	}
	var errs []error
	if !townshipID.MatchString(in.ID) {
		errs = append(errs, fmt.Errorf("%w: id %q: \"t-\" and 1-39 lowercase letters, digits or dashes, e.g. t-dongshan", errTownship, in.ID))
	}
	errs = append(errs, checkTownshipName(in.Name))
	if err := errors.Join(errs...); err != nil {
		s.fail(w, r, err)
		return
	}
	t := store.Township{ID: in.ID, Name: strings.TrimSpace(in.Name), CreatedAt: s.now()}
	if err := s.st.CreateTownship(r.Context(), t); err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/townships/"+t.ID)
	writeJSON(w, http.StatusCreated, toTownshipJSON(t))
}

func (s *Server) renameTownship(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Name string `json:"name"`
	}
	if !decode(w, r, &in) {
		return
	}
	if err := checkTownshipName(in.Name); err != nil {
		s.fail(w, r, err)
		return
	}
	t, err := s.st.RenameTownship(r.Context(), r.PathValue("tid"), strings.TrimSpace(in.Name))
	s.answer(w, r, http.StatusOK, toTownshipJSON(t), err)
}

// moveBox puts a box under another township, or ("") directly under the
// county. The box's plan, lists and history go with it.
func (s *Server) moveBox(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Township *string `json:"township"`
	}
	if !decode(w, r, &in) {
		return
	}
	if in.Township == nil {
		s.fail(w, r, fmt.Errorf("%w: give township (\"\" for the county's own)", errTownship))
		return
	}
	if err := s.townshipExists(r, *in.Township); err != nil {
		s.fail(w, r, err)
		return
	}
	id := r.PathValue("id")
	var before string
	err := s.st.UpdateBox(r.Context(), id, func(b *store.Box) error {
		before, b.Township = b.Township, *in.Township
		return nil
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	b, err := s.st.GetBox(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	noteAudit(r, map[string]string{"township": before}, map[string]string{"township": b.Township})
	writeJSON(w, http.StatusOK, s.boxJSON(b))
}

// townshipExists refuses (errTownship) a township that is not kept; ""
// is the county and always is.
func (s *Server) townshipExists(r *http.Request, id string) error {
	if id == "" {
		return nil
	}
	_, err := s.st.GetTownship(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: no township %q", errTownship, id)
	}
	return err
}

// unitFor is the township something new the caller makes goes to: the one
// asked for, or (nil) the caller's own. It must exist and lie in the
// caller's scope for action (errTownship, errOutOfScope).
func (s *Server) unitFor(r *http.Request, asked *string, action auth.Action) (string, error) {
	u := accountOf(r)
	t := auth.ScopeOf(u).Township()
	if asked != nil {
		t = *asked
	}
	if err := s.townshipExists(r, t); err != nil {
		return "", err
	}
	if !auth.Decide(u, action, t) {
		if t == "" {
			return "", fmt.Errorf("%w: only a county user may make something of the county's own", errCountyOnly)
		}
		return "", fmt.Errorf("%w: township %q", errOutOfScope, t)
	}
	return t, nil
}
