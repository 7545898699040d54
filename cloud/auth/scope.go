package auth

import "github.com/dalaba/dalaba/cloud/store"

// Scope is the unit a user works in: the county (every village) or one
// township (its villages only). It is the one place that says which
// villages a user reaches; the API and the console ask it, never compare
// townships themselves.
type Scope struct {
	township string // "" = the county
}

// ScopeOf is u's unit (store.User.Township).
func ScopeOf(u store.User) Scope { return Scope{township: u.Township} }

// CountyScope is the county's unit, which covers everything.
func CountyScope() Scope { return Scope{} }

// County reports whether the scope is the whole county.
func (s Scope) County() bool { return s.township == "" }

// Township is the township's id; "" for the county.
func (s Scope) Township() string { return s.township }

// Covers reports whether something of township (a box's, a user's, a
// claim's; "" = directly under the county) lies in the scope: the county
// covers everything, a township only its own.
func (s Scope) Covers(township string) bool { return s.County() || township == s.township }

// CoversAll reports whether every one of townships lies in the scope.
func (s Scope) CoversAll(townships []string) bool {
	for _, t := range townships {
		if !s.Covers(t) {
			return false
		}
	}
	return true
}

// Decide is the whole decision: whether u may do action to something of
// township (the target's unit; "" = the county's own). The role must be
// allowed the action by the table, the target must lie in u's scope, and
// an action the table keeps for the county (CountyOnly) is for county
// users only.
func Decide(u store.User, action Action, township string) bool {
	if !Allowed(u.Role, action) {
		return false
	}
	sc := ScopeOf(u)
	if CountyOnly(action) && !sc.County() {
		return false
	}
	return sc.Covers(township)
}

// CountyOnly reports whether the table keeps action for county users.
func CountyOnly(action Action) bool {
	if action == 0 || action >= actionEnd {
		return false
	}
	return table()[action].county
}

// CanIn is Can for u in its unit: an action the table keeps for the
// county is false for a township's user.
func CanIn(u store.User) map[string]bool {
	out := Can(u.Role)
	if !ScopeOf(u).County() {
		for _, a := range Actions() {
			if CountyOnly(a) {
				out[a.String()] = false
			}
		}
	}
	return out
}
