// Package notifytest is a local stand-in for the platforms notify talks
// to: one HTTP server that takes each platform's request the way its
// documentation describes, refuses what does not match (a bad signature,
// a stale timestamp, a missing field, a picture whose md5 is wrong) with
// the platform's own kind of answer, and records what it accepted. Tests
// of alerts and of list publication send to it instead of WeCom, DingTalk,
// Feishu or an SMS gateway, none of which a test machine can reach.
package notifytest

import (
	"bytes"
	"crypto/md5"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/dalaba/dalaba/cloud/notify"
)

// Received is one message a platform accepted.
type Received struct {
	Kind     notify.Kind
	Type     string // the platform's message type: text, markdown, image; "json" for webhook and sms
	Text     string // the text, markdown or SMS text
	Title    string // DingTalk markdown's and the webhook's title
	Image    []byte // WeCom's picture or the webhook's, decoded and checked
	ImageURL string // a picture linked from markdown or given to the webhook
	Phones   []string
	At       time.Time
}

// Receiver is the stand-in server. Its secrets and keys are fixed per
// receiver; Channel returns a channel that passes its checks.
type Receiver struct {
	t   testing.TB
	srv *httptest.Server
	now func() time.Time

	mu       sync.Mutex
	received []Received
	refused  []string
	fail     map[notify.Kind]failure
}

type failure struct {
	n      int
	status int // HTTP status to answer; 200 with code for platform codes
	code   int
}

// The receiver's credentials.
const (
	WeComKey       = "4f1c8f7e-0000-4000-8000-00000000c0de"
	DingTalkToken  = "dt-access-token"
	DingTalkSecret = "SECdalaba-test-signing-secret"
	FeishuToken    = "fs-hook-token"
	FeishuSecret   = "feishu-test-secret"
	WebhookSecret  = "webhook-test-secret"
	SMSToken       = "sms-gateway-token"
)

// New starts a receiver on loopback, closed when the test ends. now is the
// platforms' clock for timestamp checks (nil: time.Now).
func New(t testing.TB, now func() time.Time) *Receiver {
	t.Helper()
	if now == nil {
		now = time.Now
	}
	r := &Receiver{t: t, now: now, fail: map[notify.Kind]failure{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /cgi-bin/webhook/send", r.wecom)
	mux.HandleFunc("POST /robot/send", r.dingtalk)
	mux.HandleFunc("POST /open-apis/bot/v2/hook/{token}", r.feishu)
	mux.HandleFunc("POST /webhook", r.webhook)
	mux.HandleFunc("POST /sms", r.sms)
	r.srv = httptest.NewServer(mux)
	t.Cleanup(r.srv.Close)
	return r
}

// Channel returns a channel of kind k that the receiver accepts.
func (r *Receiver) Channel(k notify.Kind) notify.Channel {
	u := r.srv.URL
	switch k {
	case notify.KindWeCom:
		return notify.Channel{Kind: k, URL: u + "/cgi-bin/webhook/send?key=" + WeComKey}
	case notify.KindDingTalk:
		return notify.Channel{Kind: k, URL: u + "/robot/send?access_token=" + DingTalkToken, Secret: DingTalkSecret}
	case notify.KindFeishu:
		return notify.Channel{Kind: k, URL: u + "/open-apis/bot/v2/hook/" + FeishuToken, Secret: FeishuSecret}
	case notify.KindWebhook:
		return notify.Channel{Kind: k, URL: u + "/webhook", Secret: WebhookSecret}
	case notify.KindSMS:
		return notify.Channel{Kind: k, URL: u + "/sms", Secret: SMSToken, Phones: []string{"13800138000"}}
	}
	r.t.Fatalf("notifytest: no channel of kind %q", k)
	return notify.Channel{}
}

// FailNext makes the next n requests of kind k fail: with HTTP status
// (500, 429 …), or, with status 200, with the platform's code.
func (r *Receiver) FailNext(k notify.Kind, n, status, code int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fail[k] = failure{n: n, status: status, code: code}
}

// Received returns what was accepted, in order.
func (r *Receiver) Received() []Received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Received(nil), r.received...)
}

// Refused returns why requests were refused, in order; a test that sent
// only good requests expects none.
func (r *Receiver) Refused() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.refused...)
}

// failing answers an injected failure, if one is due.
func (r *Receiver) failing(w http.ResponseWriter, k notify.Kind) bool {
	r.mu.Lock()
	f, ok := r.fail[k]
	if ok {
		f.n--
		if f.n <= 0 {
			delete(r.fail, k)
		} else {
			r.fail[k] = f
		}
	}
	r.mu.Unlock()
	if !ok {
		return false
	}
	if f.status != http.StatusOK {
		http.Error(w, "injected failure", f.status)
		return true
	}
	switch k {
	case notify.KindFeishu:
		writeJSON(w, map[string]any{"code": f.code, "msg": "injected"})
	default:
		writeJSON(w, map[string]any{"errcode": f.code, "errmsg": "injected"})
	}
	return true
}

func (r *Receiver) accept(rc Received) {
	rc.At = r.now()
	r.mu.Lock()
	r.received = append(r.received, rc)
	r.mu.Unlock()
}

func (r *Receiver) refuse(why string) {
	r.mu.Lock()
	r.refused = append(r.refused, why)
	r.mu.Unlock()
}

// decodeStrict reads the request's JSON into dst, refusing unknown fields.
func decodeStrict(req *http.Request, dst any) ([]byte, error) {
	if ct := req.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		return nil, fmt.Errorf("content type %q, want application/json", ct)
	}
	raw, err := io.ReadAll(io.LimitReader(req.Body, 4<<20))
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return nil, fmt.Errorf("body: %w", err)
	}
	return raw, nil
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v) // the test's own client reads it
}

// WeCom robot: key in the query; text ≤ 2048 bytes, or an image whose md5
// matches and which is a PNG or JPEG of at most 2 MB.
func (r *Receiver) wecom(w http.ResponseWriter, req *http.Request) {
	if req.URL.Query().Get("key") != WeComKey {
		r.refuse("wecom: wrong key")
		writeJSON(w, map[string]any{"errcode": 93000, "errmsg": "invalid webhook url"})
		return
	}
	if r.failing(w, notify.KindWeCom) {
		return
	}
	var body struct {
		MsgType string `json:"msgtype"`
		Text    *struct {
			Content string `json:"content"`
		} `json:"text"`
		Image *struct {
			Base64 string `json:"base64"`
			MD5    string `json:"md5"`
		} `json:"image"`
	}
	if _, err := decodeStrict(req, &body); err != nil {
		r.refuse("wecom: " + err.Error())
		writeJSON(w, map[string]any{"errcode": 40008, "errmsg": "invalid message type"})
		return
	}
	bad := func(why string) {
		r.refuse("wecom: " + why)
		writeJSON(w, map[string]any{"errcode": 40008, "errmsg": why})
	}
	switch {
	case body.MsgType == "text" && body.Text != nil && body.Image == nil:
		if body.Text.Content == "" || len(body.Text.Content) > notify.MaxWeComText || !utf8.ValidString(body.Text.Content) {
			bad(fmt.Sprintf("text content of %d bytes", len(body.Text.Content)))
			return
		}
		r.accept(Received{Kind: notify.KindWeCom, Type: "text", Text: body.Text.Content})
	case body.MsgType == "image" && body.Image != nil && body.Text == nil:
		img, err := base64.StdEncoding.DecodeString(body.Image.Base64)
		sum := md5.Sum(img)
		switch {
		case err != nil:
			bad("image base64: " + err.Error())
			return
		case hex.EncodeToString(sum[:]) != body.Image.MD5:
			bad("image md5 does not match")
			return
		case len(img) > notify.MaxWeComImg:
			bad("image over 2 MB")
			return
		case !bytes.HasPrefix(img, []byte("\x89PNG\r\n\x1a\n")) && !bytes.HasPrefix(img, []byte{0xff, 0xd8, 0xff}):
			bad("image is neither PNG nor JPEG")
			return
		}
		r.accept(Received{Kind: notify.KindWeCom, Type: "image", Image: img})
	default:
		bad("msgtype " + body.MsgType + " with the wrong members")
		return
	}
	writeJSON(w, map[string]any{"errcode": 0, "errmsg": "ok"})
}

// DingTalk robot: access_token, and timestamp (ms, within an hour) and
// sign in the query.
func (r *Receiver) dingtalk(w http.ResponseWriter, req *http.Request) {
	q := req.URL.Query()
	if q.Get("access_token") != DingTalkToken {
		r.refuse("dingtalk: wrong access_token")
		writeJSON(w, map[string]any{"errcode": 300001, "errmsg": "token is not exist"})
		return
	}
	ts := q.Get("timestamp")
	ms, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || absDur(r.now().Sub(time.UnixMilli(ms))) > time.Hour {
		r.refuse("dingtalk: timestamp " + ts + " missing or more than an hour off")
		writeJSON(w, map[string]any{"errcode": 310000, "errmsg": "invalid timestamp"})
		return
	}
	if want := notify.DingTalkSign(ts, DingTalkSecret); subtle.ConstantTimeCompare([]byte(q.Get("sign")), []byte(want)) != 1 {
		r.refuse("dingtalk: sign does not match")
		writeJSON(w, map[string]any{"errcode": 310000, "errmsg": "sign not match"})
		return
	}
	if r.failing(w, notify.KindDingTalk) {
		return
	}
	var body struct {
		MsgType string `json:"msgtype"`
		Text    *struct {
			Content string `json:"content"`
		} `json:"text"`
		Markdown *struct {
			Title string `json:"title"`
			Text  string `json:"text"`
		} `json:"markdown"`
	}
	if _, err := decodeStrict(req, &body); err != nil {
		r.refuse("dingtalk: " + err.Error())
		writeJSON(w, map[string]any{"errcode": 40035, "errmsg": "missing parameter"})
		return
	}
	switch {
	case body.MsgType == "text" && body.Text != nil && body.Text.Content != "" && body.Markdown == nil:
		r.accept(Received{Kind: notify.KindDingTalk, Type: "text", Text: body.Text.Content})
	case body.MsgType == "markdown" && body.Markdown != nil && body.Markdown.Title != "" && body.Markdown.Text != "" && body.Text == nil:
		rc := Received{Kind: notify.KindDingTalk, Type: "markdown", Title: body.Markdown.Title, Text: body.Markdown.Text}
		if i := strings.Index(rc.Text, "!["); i >= 0 {
			if j := strings.Index(rc.Text[i:], "]("); j >= 0 {
				rest := rc.Text[i+j+2:]
				if k := strings.IndexByte(rest, ')'); k >= 0 {
					rc.ImageURL = rest[:k]
				}
			}
		}
		r.accept(rc)
	default:
		r.refuse("dingtalk: msgtype " + body.MsgType + " with the wrong members")
		writeJSON(w, map[string]any{"errcode": 40035, "errmsg": "missing parameter"})
		return
	}
	writeJSON(w, map[string]any{"errcode": 0, "errmsg": "ok"})
}

// Feishu bot: the token in the path; timestamp (s, within an hour) and
// sign in the body.
func (r *Receiver) feishu(w http.ResponseWriter, req *http.Request) {
	if req.PathValue("token") != FeishuToken {
		r.refuse("feishu: wrong token")
		writeJSON(w, map[string]any{"code": 19001, "msg": "param invalid: incoming webhook access token invalid"})
		return
	}
	var body struct {
		Timestamp string `json:"timestamp"`
		Sign      string `json:"sign"`
		MsgType   string `json:"msg_type"`
		Content   struct {
			Text string `json:"text"`
		} `json:"content"`
	}
	if _, err := decodeStrict(req, &body); err != nil {
		r.refuse("feishu: " + err.Error())
		writeJSON(w, map[string]any{"code": 9499, "msg": "Bad Request"})
		return
	}
	sec, err := strconv.ParseInt(body.Timestamp, 10, 64)
	if err != nil || absDur(r.now().Sub(time.Unix(sec, 0))) > time.Hour {
		r.refuse("feishu: timestamp missing or more than an hour off")
		writeJSON(w, map[string]any{"code": 19021, "msg": "sign match fail or timestamp is not within one hour from current time"})
		return
	}
	if subtle.ConstantTimeCompare([]byte(body.Sign), []byte(notify.FeishuSign(body.Timestamp, FeishuSecret))) != 1 {
		r.refuse("feishu: sign does not match")
		writeJSON(w, map[string]any{"code": 19021, "msg": "sign match fail or timestamp is not within one hour from current time"})
		return
	}
	if r.failing(w, notify.KindFeishu) {
		return
	}
	if body.MsgType != "text" || body.Content.Text == "" {
		r.refuse("feishu: msg_type " + body.MsgType + " without text")
		writeJSON(w, map[string]any{"code": 9499, "msg": "Bad Request"})
		return
	}
	r.accept(Received{Kind: notify.KindFeishu, Type: "text", Text: body.Content.Text})
	writeJSON(w, map[string]any{"code": 0, "msg": "success", "data": map[string]any{}})
}

// Webhook: the generic JSON, signed with X-Dalaba-Timestamp and
// X-Dalaba-Signature.
func (r *Receiver) webhook(w http.ResponseWriter, req *http.Request) {
	var body notify.WebhookBody
	raw, err := decodeStrict(req, &body)
	if err != nil {
		r.refuse("webhook: " + err.Error())
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	ts := req.Header.Get("X-Dalaba-Timestamp")
	sec, err := strconv.ParseInt(ts, 10, 64)
	want := "sha256=" + notify.WebhookSign(ts, raw, WebhookSecret)
	if err != nil || absDur(r.now().Sub(time.Unix(sec, 0))) > 5*time.Minute ||
		subtle.ConstantTimeCompare([]byte(req.Header.Get("X-Dalaba-Signature")), []byte(want)) != 1 {
		r.refuse("webhook: signature or timestamp does not match")
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	if r.failing(w, notify.KindWebhook) {
		return
	}
	rc := Received{Kind: notify.KindWebhook, Type: "json", Title: body.Title, Text: body.Text, ImageURL: body.ImageURL}
	if body.ImagePNG != "" {
		if rc.Image, err = base64.StdEncoding.DecodeString(body.ImagePNG); err != nil {
			r.refuse("webhook: image_png: " + err.Error())
			http.Error(w, "bad image", http.StatusBadRequest)
			return
		}
	}
	r.accept(rc)
	w.WriteHeader(http.StatusNoContent)
}

// SMS gateway: bearer token, phones and text.
func (r *Receiver) sms(w http.ResponseWriter, req *http.Request) {
	if req.Header.Get("Authorization") != "Bearer "+SMSToken {
		r.refuse("sms: wrong token")
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	if r.failing(w, notify.KindSMS) {
		return
	}
	var body notify.SMSBody
	if _, err := decodeStrict(req, &body); err != nil || len(body.Phones) == 0 || body.Text == "" || utf8.RuneCountInString(body.Text) > notify.MaxSMSText {
		r.refuse(fmt.Sprintf("sms: bad body (%v)", err))
		http.Error(w, "bad body", http.StatusBadRequest)
		return
	}
	r.accept(Received{Kind: notify.KindSMS, Type: "json", Text: body.Text, Phones: body.Phones})
	writeJSON(w, map[string]any{"ok": true})
}

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}
