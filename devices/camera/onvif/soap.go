package onvif

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Namespaces of the messages.
const (
	nsSOAP = "http://www.w3.org/2003/05/soap-envelope"
	nsTDS  = "http://www.onvif.org/ver10/device/wsdl"
	nsTRT  = "http://www.onvif.org/ver10/media/wsdl"
	nsTT   = "http://www.onvif.org/ver10/schema"
	nsPTZ  = "http://www.onvif.org/ver20/ptz/wsdl"
	nsWSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
	nsWSU  = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"

	passwordDigest = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest"
	base64Binary   = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary"
)

// maxAnswer bounds a SOAP answer: a camera's profiles are a few kB.
const maxAnswer = 1 << 20

// Errors a call returns, wrapped.
var (
	// ErrUnauthorized: the camera refused the credentials.
	ErrUnauthorized = errors.New("onvif: the camera refused the user name or password")
	// ErrFault: the camera answered with a SOAP fault (Reason says why).
	ErrFault = errors.New("onvif: the camera refused the request")
)

// Client talks to one camera's ONVIF services.
type Client struct {
	// URL is the device service, http://host[:port]/onvif/device_service.
	URL string
	// Username and Password are the camera's credentials; none: no
	// WS-Security header.
	Username, Password string
	// HTTP sends the requests; nil is a client with no timeout of its own
	// (the context bounds every call).
	HTTP *http.Client
	// Now is the clock of the UsernameToken's Created; nil is time.Now.
	// Cameras refuse a token too far from their clock.
	Now func() time.Time
}

func (c *Client) http() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return http.DefaultClient
}

// call posts body (the Body's content, XML with its namespaces declared)
// to url and decodes the Body's first element of the answer into out.
func (c *Client) call(ctx context.Context, url, body string, out any) error {
	var env bytes.Buffer
	env.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` +
		`<s:Envelope xmlns:s="` + nsSOAP + `" xmlns:tds="` + nsTDS + `" xmlns:trt="` + nsTRT + `" xmlns:tt="` + nsTT + `" xmlns:tptz="` + nsPTZ + `">`)
	if c.Username != "" {
		env.WriteString(`<s:Header>`)
		c.security(&env)
		env.WriteString(`</s:Header>`)
	}
	env.WriteString(`<s:Body>` + body + `</s:Body></s:Envelope>`)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, &env)
	if err != nil {
		return fmt.Errorf("onvif: %w", err)
	}
	req.Header.Set("Content-Type", `application/soap+xml; charset=utf-8`)
	resp, err := c.http().Do(req)
	if err != nil {
		return fmt.Errorf("onvif: %w", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return fmt.Errorf("onvif: reading the answer: %w", err)
	}
	var ans struct {
		Body struct {
			Inner []byte `xml:",innerxml"`
			Fault *struct {
				Code struct {
					Subcode struct {
						Value string `xml:"Value"`
					} `xml:"Subcode"`
				} `xml:"Code"`
				Reason struct {
					Text string `xml:"Text"`
				} `xml:"Reason"`
			} `xml:"Fault"`
		} `xml:"Body"`
	}
	if err := xml.Unmarshal(raw, &ans); err != nil {
		if resp.StatusCode == http.StatusUnauthorized {
			return ErrUnauthorized
		}
		return fmt.Errorf("onvif: %s: not a SOAP answer (HTTP %d): %w", url, resp.StatusCode, err)
	}
	if f := ans.Body.Fault; f != nil {
		sub := f.Code.Subcode.Value
		if strings.HasSuffix(sub, "NotAuthorized") || resp.StatusCode == http.StatusUnauthorized {
			return ErrUnauthorized
		}
		return fmt.Errorf("%w: %s (%s)", ErrFault, strings.TrimSpace(f.Reason.Text), sub)
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("onvif: %s: HTTP %d", url, resp.StatusCode)
	}
	if out == nil {
		return nil
	}
	if err := xml.Unmarshal(ans.Body.Inner, out); err != nil {
		return fmt.Errorf("onvif: decoding the answer: %w", err)
	}
	return nil
}

// security writes a WS-Security UsernameToken with a password digest:
// Base64(SHA-1(nonce + created + password)).
func (c *Client) security(w *bytes.Buffer) {
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	nonce := make([]byte, 16)
	_, _ = rand.Read(nonce) // crypto/rand.Read never fails on Linux
	created := now().UTC().Format("2006-01-02T15:04:05.000Z")
	h := sha1.New()
	h.Write(nonce)
	h.Write([]byte(created))
	h.Write([]byte(c.Password))
	digest := base64.StdEncoding.EncodeToString(h.Sum(nil))
	fmt.Fprintf(w, `<wsse:Security s:mustUnderstand="1" xmlns:wsse="%s" xmlns:wsu="%s"><wsse:UsernameToken>`+
		`<wsse:Username>%s</wsse:Username><wsse:Password Type="%s">%s</wsse:Password>`+
		`<wsse:Nonce EncodingType="%s">%s</wsse:Nonce><wsu:Created>%s</wsu:Created>`+
		`</wsse:UsernameToken></wsse:Security>`,
		nsWSSE, nsWSU, escape(c.Username), passwordDigest, digest, base64Binary, base64.StdEncoding.EncodeToString(nonce), created)
}

// escape makes s safe as XML character data.
func escape(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s)) // a strings.Builder does not fail
	return b.String()
}
