package console

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/dalaba/dalaba/cloud/auth"
)

// loginCookie holds the nonce a sign-in form's CSRF token is derived from.
// Without it another site could sign a browser in as the attacker (login
// CSRF), and the official would then enter data into the wrong account.
const loginCookie = "dalaba_login"

// loginNonceTTL is how long a sign-in form stays usable.
const loginNonceTTL = time.Hour

type loginData struct {
	Username string
	Message  string // why the last attempt failed; "" for none
}

func (c *Console) loginPage(w http.ResponseWriter, r *http.Request) {
	l := langOf(w, r)
	// Already signed in: nothing to do here.
	if _, err := c.auth.Verify(r.Context(), sessionToken(r)); err == nil {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	c.renderLogin(w, r, l, http.StatusOK, loginData{})
}

// renderLogin shows the form with a fresh nonce, so each form shown is
// bound to this browser.
func (c *Console) renderLogin(w http.ResponseWriter, r *http.Request, l lang, status int, d loginData) {
	b := make([]byte, 18)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on Linux
	nonce := base64.RawURLEncoding.EncodeToString(b)
	http.SetCookie(w, &http.Cookie{
		Name: loginCookie, Value: nonce, Path: "/login", MaxAge: int(loginNonceTTL / time.Second),
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil,
	})
	c.render(w, r, status, "login.html", c.pageData(l, nil, c.csrf.token(purposeLogin, nonce), d))
}

func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	l := langOf(w, r)
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		c.errorPage(w, r, http.StatusBadRequest, "BadRequest")
		return
	}
	nonce := ""
	if ck, err := r.Cookie(loginCookie); err == nil {
		nonce = ck.Value
	}
	if !c.csrf.check(r, purposeLogin, nonce, true) {
		c.log.Warn("sign-in without a valid CSRF token refused", "remote_addr", c.proxies.Client(r))
		c.errorPage(w, r, http.StatusForbidden, "Forbidden")
		return
	}
	name := r.PostFormValue("username")
	client := c.proxies.Client(r)
	tok, exp, err := c.auth.Login(r.Context(), name, r.PostFormValue("password"), client)
	t := c.msgs[l]
	switch {
	case errors.Is(err, auth.ErrRateLimited):
		wait := time.Minute
		if le, ok := errors.AsType[*auth.LimitedError](err); ok {
			wait = le.RetryAfter
		}
		secs := int((wait + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		minutes := strconv.Itoa((secs + 59) / 60)
		c.renderLogin(w, r, l, http.StatusTooManyRequests, loginData{Username: name, Message: strings.ReplaceAll(t["LoginLimited"], "{x}", minutes)})
	case errors.Is(err, auth.ErrBadCredentials):
		// One message whether the name exists or not.
		c.renderLogin(w, r, l, http.StatusUnauthorized, loginData{Username: name, Message: t["LoginWrong"]})
	case err != nil:
		c.fail(w, r, l, err)
	default:
		clearCookie(w, r, loginCookie, "/login")
		setSession(w, r, tok, exp)
		c.log.Info("signed in", "user", name, "remote_addr", client)
		http.Redirect(w, r, "/", http.StatusSeeOther)
	}
}

func (c *Console) logout(w http.ResponseWriter, r *http.Request, v *visit) {
	if err := c.auth.Logout(r.Context(), v.token); err != nil {
		c.fail(w, r, v.lang, err)
		return
	}
	clearCookie(w, r, sessionCookie, "/")
	c.log.Info("signed out", "user", v.user.Name)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}
