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
	s.route("GET /api/v1/users", auth.ActionManageUsers, s.listUsers)
	s.route("POST /api/v1/users", auth.ActionManageUsers, s.addUser)
	s.route("PUT /api/v1/users/{name}", auth.ActionManageUsers, s.updateUser)
}

// userJSON is an account as the API shows it: never its password hash.
type userJSON struct {
	Name      string     `json:"name"`
	Role      store.Role `json:"role"`
	CreatedAt time.Time  `json:"created_at"`
	Disabled  bool       `json:"disabled"`
}

func toUserJSON(u store.User) userJSON {
	return userJSON{Name: u.Name, Role: u.Role, CreatedAt: u.CreatedAt, Disabled: u.Disabled}
}

// userAudit is what the audit trail keeps of an account's state.
type userAudit struct {
	Name            string     `json:"name"`
	Role            store.Role `json:"role"`
	Disabled        bool       `json:"disabled"`
	PasswordChanged bool       `json:"password_changed,omitempty"`
}

func (s *Server) listUsers(w http.ResponseWriter, r *http.Request) {
	us, err := s.auth.Users(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := make([]userJSON, 0, len(us))
	for _, u := range us {
		out = append(out, toUserJSON(u))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) addUser(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Name     string     `json:"name"`
		Password string     `json:"password"`
		Role     store.Role `json:"role"`
	}
	if !decode(w, r, &in) {
		return
	}
	if err := s.auth.AddUser(r.Context(), in.Name, in.Password, in.Role); err != nil {
		s.fail(w, r, err)
		return
	}
	u, err := s.auth.User(r.Context(), in.Name)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	noteAudit(r, nil, userAudit{Name: u.Name, Role: u.Role, Disabled: u.Disabled})
	w.Header().Set("Location", "/api/v1/users/"+url.PathEscape(u.Name))
	writeJSON(w, http.StatusCreated, toUserJSON(u))
}

func (s *Server) updateUser(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Role     *store.Role `json:"role"`
		Password *string     `json:"password"`
		Disabled *bool       `json:"disabled"`
	}
	if !decode(w, r, &in) {
		return
	}
	name := r.PathValue("name")
	before, after, err := s.auth.Update(r.Context(), userOf(r), name, auth.Change{Role: in.Role, Password: in.Password, Disabled: in.Disabled})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	// The account's name as stored, whichever spelling the path used.
	noteAudit(r,
		userAudit{Name: after.Name, Role: before.Role, Disabled: before.Disabled},
		userAudit{Name: after.Name, Role: after.Role, Disabled: after.Disabled, PasswordChanged: in.Password != nil})
	writeJSON(w, http.StatusOK, toUserJSON(after))
}
