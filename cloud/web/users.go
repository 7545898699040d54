package web

import (
	"net/http"
	"net/url"
	"time"

	"github.com/dalaba/dalaba/cloud/auth"
	"github.com/dalaba/dalaba/cloud/store"
)

// Users (admin only). Accounts are never deleted, only disabled, so the
// names in the audit trail keep meaning someone. A change of role or
// password, or disabling, ends the user's sessions; an admin cannot take
// the admin role from themself or disable themself, and no change may
// leave the township without an enabled admin (400, nothing changed).
// Password hashes never leave cloud/auth; the audit trail gets the role
// and disabled flag before and after, and whether the password changed.
// The routes are in doc.go.
func (s *Server) userRoutes() {
	s.route("GET /api/v1/users", auth.ActionManageUsers, TargetList, s.listUsers)
	s.route("POST /api/v1/users", auth.ActionManageUsers, TargetBody, s.addUser)
	s.route("PUT /api/v1/users/{name}", auth.ActionManageUsers, TargetUser, s.updateUser)
}

// userJSON is an account as the API shows it: never its password hash.
type userJSON struct {
	Name      string     `json:"name"`
	Role      store.Role `json:"role"`
	CreatedAt time.Time  `json:"created_at"`
	Disabled  bool       `json:"disabled"`
	// Township is the user's unit; "" (left out) = the county.
	Township string `json:"township,omitempty"`
}

func toUserJSON(u store.User) userJSON {
	return userJSON{Name: u.Name, Role: u.Role, CreatedAt: u.CreatedAt, Disabled: u.Disabled, Township: u.Township}
}

// userAudit is what the audit trail keeps of an account's state.
type userAudit struct {
	Name            string     `json:"name"`
	Role            store.Role `json:"role"`
	Disabled        bool       `json:"disabled"`
	Township        string     `json:"township,omitempty"`
	PasswordChanged bool       `json:"password_changed,omitempty"`
}

func (s *Server) listUsers(w http.ResponseWriter, r *http.Request) {
	us, err := s.auth.Users(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	sc := scopeOf(r)
	out := make([]userJSON, 0, len(us))
	for _, u := range us {
		if sc.Covers(u.Township) {
			out = append(out, toUserJSON(u))
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) addUser(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Name     string     `json:"name"`
		Password string     `json:"password"`
		Role     store.Role `json:"role"`
		// Township is the new user's unit: a county admin's choice ("" =
		// the county); a township admin's own when left out.
		Township *string `json:"township"`
	}
	if !decode(w, r, &in) {
		return
	}
	township, err := s.unitFor(r, in.Township, auth.ActionManageUsers)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.auth.AddUserIn(r.Context(), in.Name, in.Password, in.Role, township); err != nil {
		s.fail(w, r, err)
		return
	}
	u, err := s.auth.User(r.Context(), in.Name)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	noteAudit(r, nil, userAudit{Name: u.Name, Role: u.Role, Disabled: u.Disabled, Township: u.Township})
	w.Header().Set("Location", "/api/v1/users/"+url.PathEscape(u.Name))
	writeJSON(w, http.StatusCreated, toUserJSON(u))
}

func (s *Server) updateUser(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Role     *store.Role `json:"role"`
		Password *string     `json:"password"`
		Disabled *bool       `json:"disabled"`
		// Township moves the account to another unit ("" = the county):
		// one the caller's scope covers (a township admin's users stay in
		// it).
		Township *string `json:"township"`
	}
	if !decode(w, r, &in) {
		return
	}
	if in.Township != nil {
		if _, err := s.unitFor(r, in.Township, auth.ActionManageUsers); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	name := r.PathValue("name")
	before, after, err := s.auth.Update(r.Context(), userOf(r), name, auth.Change{Role: in.Role, Password: in.Password, Disabled: in.Disabled, Township: in.Township})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	// The account's name as stored, whichever spelling the path used.
	noteAudit(r,
		userAudit{Name: after.Name, Role: before.Role, Disabled: before.Disabled, Township: before.Township},
		userAudit{Name: after.Name, Role: after.Role, Disabled: after.Disabled, Township: after.Township, PasswordChanged: in.Password != nil})
	writeJSON(w, http.StatusOK, toUserJSON(after))
}
