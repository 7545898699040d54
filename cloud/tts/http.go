package tts

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// HTTPConfig configures the HTTP engine: a TTS server that takes
//
//	POST <url>
//	Content-Type: application/json
//	Accept: audio/wav
//
//	{"text": "...", "voice": "..."}
//
// and answers 2xx with WAV bytes. JSON rather than a form because every
// TTS server wrapper speaks it and it carries any text without escaping
// questions. "voice" is sent only when Voice is set.
type HTTPConfig struct {
	URL   string `yaml:"url"`   // http:// or https://
	Voice string `yaml:"voice"` // passed through; "" = the server's default
	// Header is added to every request, e.g. Authorization for a token.
	// Values are never put in errors or logs.
	Header   map[string]string `yaml:"header"`
	Timeout  time.Duration     `yaml:"timeout"`   // of one request, body included; default 60 s
	MaxBytes int64             `yaml:"max_bytes"` // of one answer; default 32 MiB
}

// HTTP defaults.
const (
	DefaultHTTPTimeout  = 60 * time.Second
	DefaultHTTPMaxBytes = 32 << 20
)

// errSnippet bounds how much of an error answer is quoted in the error.
const errSnippet = 200

// HTTP is the HTTP engine.
type HTTP struct {
	url      *url.URL
	voice    string
	header   http.Header
	timeout  time.Duration
	maxBytes int64
	client   *http.Client
}

// NewHTTP fills in cfg's defaults and checks it.
func NewHTTP(cfg HTTPConfig) (*HTTP, error) {
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultHTTPTimeout
	}
	if cfg.MaxBytes == 0 {
		cfg.MaxBytes = DefaultHTTPMaxBytes
	}
	var errs []error
	u, err := url.Parse(cfg.URL)
	switch {
	case cfg.URL == "":
		errs = append(errs, errors.New("tts http: url is empty"))
	case err != nil:
		errs = append(errs, fmt.Errorf("tts http: url: %w", err))
	case u.Scheme != "http" && u.Scheme != "https":
		errs = append(errs, fmt.Errorf("tts http: url scheme %q: want http or https", u.Scheme))
	case u.Host == "":
		errs = append(errs, errors.New("tts http: url has no host"))
	}
	if cfg.Timeout < 0 {
		errs = append(errs, fmt.Errorf("tts http: timeout %v is negative", cfg.Timeout))
	}
	if cfg.MaxBytes < 0 {
		errs = append(errs, fmt.Errorf("tts http: max_bytes %d is negative", cfg.MaxBytes))
	}
	h := make(http.Header, len(cfg.Header))
	for k, v := range cfg.Header {
		if k == "" || strings.ContainsAny(k+v, "\r\n") {
			errs = append(errs, fmt.Errorf("tts http: header %q is not a valid header", k))
			continue
		}
		h.Set(k, v)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &HTTP{
		url: u, voice: cfg.Voice, header: h, timeout: cfg.Timeout, maxBytes: cfg.MaxBytes,
		// Redirects are followed (the default, at most 10) so a server
		// behind a moved path still works; the timeout is per call below.
		client: &http.Client{},
	}, nil
}

// Name is "http/<host>".
func (e *HTTP) Name() string { return "http/" + e.url.Host }

// Synthesize posts text to the server and checks the answer is speech.
func (e *HTTP) Synthesize(ctx context.Context, text string) ([]byte, error) {
	if err := CheckText(text); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()

	body, err := json.Marshal(request{Text: text, Voice: e.voice})
	if err != nil {
		return nil, fmt.Errorf("tts http: encode request: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.url.String(), bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("tts http: request: %w", err)
	}
	for k, v := range e.header {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "audio/wav")

	resp, err := e.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("tts http: post to %s: %w", e.url.Host, unwrapURL(err))
	}
	defer resp.Body.Close() // read-only; a close error changes nothing

	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		snippet, _ := io.ReadAll(io.LimitReader(resp.Body, errSnippet)) // best effort: only for the message
		return nil, fmt.Errorf("tts http: server answered %d: %s", resp.StatusCode, printable(snippet))
	}
	if resp.ContentLength > e.maxBytes {
		return nil, fmt.Errorf("tts http: answer of %d bytes, more than max_bytes %d", resp.ContentLength, e.maxBytes)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, e.maxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("tts http: read answer: %w", unwrapURL(err))
	}
	if int64(len(b)) > e.maxBytes {
		return nil, fmt.Errorf("tts http: answer longer than max_bytes %d", e.maxBytes)
	}
	if _, err := checkSpeech(b); err != nil {
		return nil, fmt.Errorf("tts http: %w (Content-Type %q)", err, resp.Header.Get("Content-Type"))
	}
	return b, nil
}

// request is the JSON body the server receives.
type request struct {
	Text  string `json:"text"`
	Voice string `json:"voice,omitempty"`
}

// unwrapURL drops *url.Error's "Post \"<url>\"" prefix: the URL may carry
// a token in its query, and errors end up in logs.
func unwrapURL(err error) error {
	if ue, ok := errors.AsType[*url.Error](err); ok {
		return ue.Err
	}
	return err
}

// printable makes an error answer's start safe to put in one log line; the
// cut at errSnippet may split a character, hence the replacement.
func printable(b []byte) string {
	return strings.Join(strings.Fields(strings.ToValidUTF8(string(b), "?")), " ")
}
