package console

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
)

// CSRF tokens are HMACs of a secret the browser holds in an HttpOnly
// cookie (the session token, or before sign-in a random nonce), so nothing
// is stored server side, a token is useless with another session, and a
// page on another site can neither read the cookie nor compute the token.
// Requests carry it in a form field or, from JS, in a header.
const (
	csrfField  = "csrf"
	csrfHeader = "X-CSRF-Token"
)

// Purposes keep a sign-in form's token from passing as a session's.
const (
	purposeSession = "session"
	purposeLogin   = "login"
)

type csrf struct{ key []byte }

// token is the CSRF token for secret.
func (c csrf) token(purpose, secret string) string {
	m := hmac.New(sha256.New, c.key)
	m.Write([]byte(purpose))
	m.Write([]byte{0})
	m.Write([]byte(secret))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// check reports whether r carries the token of secret. With form it may
// read the form, so the body must already be bounded.
func (c csrf) check(r *http.Request, purpose, secret string, form bool) bool {
	got := r.Header.Get(csrfHeader)
	if got == "" && form {
		got = r.PostFormValue(csrfField)
	}
	if got == "" || secret == "" {
		return false
	}
	return hmac.Equal([]byte(got), []byte(c.token(purpose, secret)))
}
