package console

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/dalaba/dalaba/cloud/auth"
	"github.com/dalaba/dalaba/cloud/store"
	"github.com/dalaba/dalaba/cloud/web"
)

// sessionCookie holds the auth token of a signed-in official. The
// __Host- prefix is not used because the console is also served over
// plain HTTP on a village LAN, where browsers refuse such cookies.
const sessionCookie = "dalaba_session"

// visit is a signed-in request.
type visit struct {
	user  store.User
	token string
	lang  lang
}

// signedIn admits requests with a valid session whose role may do action;
// state-changing ones must also carry the session's CSRF token. Without a
// session a page request is sent to /login and a script's gets 401.
func (c *Console) signedIn(action auth.Action, h func(http.ResponseWriter, *http.Request, *visit)) http.HandlerFunc {
	return c.guard(action, true, h)
}

// guard is signedIn; form says a change may carry its CSRF token as a form
// field, which means reading a body bounded to maxForm. The bridge passes
// bodies of any size on to the API, so there the token must come in the
// header and the body is left alone.
func (c *Console) guard(action auth.Action, form bool, h func(http.ResponseWriter, *http.Request, *visit)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		l := langOf(w, r)
		tok := sessionToken(r)
		u, err := c.auth.Verify(r.Context(), tok)
		if errors.Is(err, auth.ErrBadCredentials) {
			if tok != "" {
				clearCookie(w, r, sessionCookie, "/")
			}
			if fromScript(r) {
				c.errorJSON(w, web.CodeBadToken, c.msgs[l][codeKey(web.CodeBadToken)])
				return
			}
			http.Redirect(w, r, "/login", http.StatusSeeOther)
			return
		}
		if err != nil {
			c.fail(w, r, l, err)
			return
		}
		if !auth.Allowed(u.Role, action) {
			key := "NoPermission"
			if !safeMethod(r.Method) {
				key = "NoPermissionToDo"
			}
			c.errorPage(w, r, http.StatusForbidden, key)
			return
		}
		if !safeMethod(r.Method) {
			if form {
				r.Body = http.MaxBytesReader(w, r.Body, maxForm)
			}
			if !c.csrf.check(r, purposeSession, tok, form) {
				c.log.Warn("request without a valid CSRF token refused", "user", u.Name, "method", r.Method, "path", r.URL.Path)
				if fromScript(r) {
					c.errorJSON(w, web.CodeCSRF, c.msgs[l][codeKey(web.CodeCSRF)])
					return
				}
				c.errorPage(w, r, http.StatusForbidden, "Forbidden")
				return
			}
		}
		// Every read the page makes is of the user's unit (scope.go).
		r = r.WithContext(withScope(r.Context(), auth.ScopeOf(u)))
		h(w, r, &visit{user: u, token: tok, lang: l})
	}
}

func sessionToken(r *http.Request) string {
	ck, err := r.Cookie(sessionCookie)
	if err != nil {
		return ""
	}
	return ck.Value
}

// setSession hands the browser its session cookie. Secure follows the
// request's own TLS: behind a TLS-terminating proxy the cookie is not
// marked, since X-Forwarded-Proto cannot be trusted without configuration.
func setSession(w http.ResponseWriter, r *http.Request, token string, exp time.Time) {
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: token, Path: "/", Expires: exp,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: r.TLS != nil,
	})
}

func clearCookie(w http.ResponseWriter, r *http.Request, name, path string) {
	http.SetCookie(w, &http.Cookie{
		Name: name, Value: "", Path: path, MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: r.TLS != nil,
	})
}

// fromScript tells a request made by the page's JS (fetch, EventSource),
// which needs a status it can act on rather than a redirect to HTML.
func fromScript(r *http.Request) bool {
	if r.Header.Get(csrfHeader) != "" || r.Header.Get("X-Requested-With") != "" {
		return true
	}
	a := r.Header.Get("Accept")
	return strings.Contains(a, "application/json") || strings.Contains(a, "text/event-stream")
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// stillValid reports whether a stream's session is still alive; long
// streams recheck so a logout elsewhere or expiry ends them. A store error
// keeps the stream: the next check decides.
func (c *Console) stillValid(ctx context.Context, token string) bool {
	_, err := c.auth.Verify(ctx, token)
	return !errors.Is(err, auth.ErrBadCredentials)
}
