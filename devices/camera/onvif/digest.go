package onvif

import (
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
)

// digestAuth answers an HTTP Digest challenge (RFC 7616, MD5, qop auth or
// none), as cameras ask for their snapshot URIs.
func digestAuth(challenge, user, pass, method, uri string) string {
	p := map[string]string{}
	for part := range strings.SplitSeq(challenge[len("digest "):], ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if ok {
			p[strings.ToLower(k)] = strings.Trim(v, `"`)
		}
	}
	h := func(s string) string { sum := md5.Sum([]byte(s)); return hex.EncodeToString(sum[:]) }
	ha1 := h(user + ":" + p["realm"] + ":" + pass)
	ha2 := h(method + ":" + uri)
	if !strings.Contains(p["qop"], "auth") {
		return fmt.Sprintf(`Digest username="%s", realm="%s", nonce="%s", uri="%s", response="%s"`,
			user, p["realm"], p["nonce"], uri, h(ha1+":"+p["nonce"]+":"+ha2))
	}
	b := make([]byte, 8)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on Linux
	cnonce := hex.EncodeToString(b)
	resp := h(ha1 + ":" + p["nonce"] + ":00000001:" + cnonce + ":auth:" + ha2)
	out := fmt.Sprintf(`Digest username="%s", realm="%s", nonce="%s", uri="%s", qop=auth, nc=00000001, cnonce="%s", response="%s"`,
		user, p["realm"], p["nonce"], uri, cnonce, resp)
	if o := p["opaque"]; o != "" {
		out += fmt.Sprintf(`, opaque="%s"`, o)
	}
	return out
}
