package console

import (
	"net/http"
	"strings"

	"github.com/dalaba/dalaba/cloud/auth"
	"github.com/dalaba/dalaba/cloud/web"
)

// bridgePrefix is where the console's scripts reach the JSON API with
// their session cookie: /ui/api/X is /api/v1/X. The API knows bearer
// tokens only, and a console session is one (auth issues both), so the
// bridge checks the session and, for changes, the CSRF token, then hands
// the request on with the session as its bearer token. The API's own role
// checks, validation and audit then apply unchanged: a page can do
// nothing its user could not do with curl.
const bridgePrefix = "/ui/api/"

func (c *Console) bridgeRoutes() {
	// Any session passes; the API then checks the route's own action.
	c.register(Route{Pattern: bridgePrefix, Action: auth.ActionSignedIn}, c.guard(auth.ActionSignedIn, false, c.bridge))
}

func (c *Console) bridge(w http.ResponseWriter, r *http.Request, v *visit) {
	if c.next == nil {
		c.errorJSON(w, web.CodeNoRoute, c.msgs[v.lang][codeKey(web.CodeNoRoute)])
		return
	}
	rest := strings.TrimPrefix(r.URL.Path, bridgePrefix)
	r2 := r.Clone(r.Context())
	r2.URL.Path = "/api/v1/" + rest
	r2.URL.RawPath = ""
	if r.URL.RawPath != "" {
		r2.URL.RawPath = "/api/v1/" + strings.TrimPrefix(r.URL.RawPath, bridgePrefix)
	}
	r2.RequestURI = ""
	r2.Header.Set("Authorization", "Bearer "+v.token)
	r2.Header.Del("Cookie") // the API has no use for it and must not log it
	c.next.ServeHTTP(w, r2)
}
