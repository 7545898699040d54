package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Sender sends messages. Make it with NewSender; it is safe for concurrent
// use and keeps no state between sends.
type Sender struct {
	client *http.Client
	now    func() time.Time
}

// SendTimeout bounds one request when the caller's context does not.
const SendTimeout = 15 * time.Second

// NewSender returns a Sender using client (nil: a client with
// SendTimeout) and now (nil: time.Now) for the platforms' timestamps.
func NewSender(client *http.Client, now func() time.Time) *Sender {
	if client == nil {
		client = &http.Client{Timeout: SendTimeout}
	}
	if now == nil {
		now = time.Now
	}
	return &Sender{client: client, now: now}
}

// Error is a failed send: what the channel answered and whether trying
// again later may succeed.
type Error struct {
	Kind      Kind
	Status    int    // the HTTP status; 0 when no answer came
	Code      int    // the platform's errcode or code; 0 when none
	Message   string // the platform's errmsg, or what went wrong
	Retryable bool
}

func (e *Error) Error() string {
	switch {
	case e.Status == 0:
		return fmt.Sprintf("notify: %s: %s", e.Kind, e.Message)
	case e.Code != 0:
		return fmt.Sprintf("notify: %s: HTTP %d, code %d: %s", e.Kind, e.Status, e.Code, e.Message)
	}
	return fmt.Sprintf("notify: %s: HTTP %d: %s", e.Kind, e.Status, e.Message)
}

// Retryable reports whether err is a send failure worth another attempt.
func Retryable(err error) bool {
	if e, ok := errors.AsType[*Error](err); ok {
		return e.Retryable
	}
	return false
}

// Platform codes that mean "too many messages, later": WeCom's 45009 (API
// freq out of limit), DingTalk's 130101 (send too fast) and 660026,
// Feishu's 11232 (frequency limited).
var tooFast = map[Kind][]int{KindWeCom: {45009}, KindDingTalk: {130101, 660026}, KindFeishu: {11232}}

// Send makes one attempt to deliver m on c: for WeCom with a picture, the
// text and then the picture (two requests; a failure of the second is the
// send's failure). It validates both first: ErrInvalid changes nothing.
func (s *Sender) Send(ctx context.Context, c Channel, m Message) error {
	if err := errors.Join(c.Validate(), m.Validate()); err != nil {
		return err
	}
	switch c.Kind {
	case KindWeCom:
		return s.wecom(ctx, c, m)
	case KindDingTalk:
		return s.dingtalk(ctx, c, m)
	case KindFeishu:
		return s.feishu(ctx, c, m)
	case KindWebhook:
		return s.webhook(ctx, c, m)
	default:
		return s.sms(ctx, c, m)
	}
}

// text joins a message's title, text and link the way the robots show it.
func text(m Message) string {
	var b strings.Builder
	for _, part := range []string{m.Title, m.Text, m.Link} {
		if part == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteString("\n")
		}
		b.WriteString(part)
	}
	return b.String()
}

func (s *Sender) wecom(ctx context.Context, c Channel, m Message) error {
	body := map[string]any{"msgtype": "text", "text": map[string]any{"content": cut(text(m), MaxWeComText)}}
	if err := s.post(ctx, c.Kind, c.URL, nil, body, robotOK); err != nil {
		return err
	}
	if len(m.Image) == 0 {
		return nil
	}
	sum := md5.Sum(m.Image)
	img := map[string]any{"msgtype": "image", "image": map[string]any{
		"base64": base64.StdEncoding.EncodeToString(m.Image), "md5": hex.EncodeToString(sum[:]),
	}}
	return s.post(ctx, c.Kind, c.URL, nil, img, robotOK)
}

func (s *Sender) dingtalk(ctx context.Context, c Channel, m Message) error {
	target := c.URL
	if c.Secret != "" {
		ts := strconv.FormatInt(s.now().UnixMilli(), 10)
		u, err := url.Parse(c.URL)
		if err != nil {
			return fmt.Errorf("%w: url: %v", ErrInvalid, err)
		}
		q := u.Query()
		q.Set("timestamp", ts)
		q.Set("sign", DingTalkSign(ts, c.Secret))
		u.RawQuery = q.Encode()
		target = u.String()
	}
	var body map[string]any
	if m.ImageURL != "" {
		md := strings.ReplaceAll(text(m), "\n", "\n\n") + "\n\n![](" + m.ImageURL + ")"
		title := m.Title
		if title == "" {
			title = cutRunes(m.Text, 20)
		}
		body = map[string]any{"msgtype": "markdown", "markdown": map[string]any{"title": title, "text": md}}
	} else {
		body = map[string]any{"msgtype": "text", "text": map[string]any{"content": text(m)}}
	}
	return s.post(ctx, c.Kind, target, nil, body, robotOK)
}

// DingTalkSign is DingTalk's robot signature: HMAC-SHA256 of
// "timestamp\nsecret" keyed by the secret, base64 (the caller's URL
// encoding makes it urlencoded, as DingTalk wants).
func DingTalkSign(timestamp, secret string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(timestamp + "\n" + secret))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

func (s *Sender) feishu(ctx context.Context, c Channel, m Message) error {
	t := text(m)
	if m.ImageURL != "" {
		t += "\n" + m.ImageURL
	}
	body := map[string]any{"msg_type": "text", "content": map[string]any{"text": t}}
	if c.Secret != "" {
		ts := strconv.FormatInt(s.now().Unix(), 10)
		body["timestamp"] = ts
		body["sign"] = FeishuSign(ts, c.Secret)
	}
	return s.post(ctx, c.Kind, c.URL, nil, body, feishuOK)
}

// FeishuSign is Feishu's bot signature: HMAC-SHA256 keyed by
// "timestamp\nsecret" over nothing, base64.
func FeishuSign(timestamp, secret string) string {
	mac := hmac.New(sha256.New, []byte(timestamp+"\n"+secret))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// WebhookBody is the generic webhook's JSON.
type WebhookBody struct {
	Title    string `json:"title,omitempty"`
	Text     string `json:"text"`
	Link     string `json:"link,omitempty"`
	ImageURL string `json:"image_url,omitempty"`
	ImagePNG string `json:"image_png,omitempty"` // base64 of the picture
}

func (s *Sender) webhook(ctx context.Context, c Channel, m Message) error {
	body := WebhookBody{Title: m.Title, Text: m.Text, Link: m.Link, ImageURL: m.ImageURL}
	if len(m.Image) > 0 {
		body.ImagePNG = base64.StdEncoding.EncodeToString(m.Image)
	}
	var sign func([]byte) http.Header
	if c.Secret != "" {
		sign = func(raw []byte) http.Header {
			ts := strconv.FormatInt(s.now().Unix(), 10)
			return http.Header{"X-Dalaba-Timestamp": {ts}, "X-Dalaba-Signature": {"sha256=" + WebhookSign(ts, raw, c.Secret)}}
		}
	}
	return s.post(ctx, c.Kind, c.URL, sign, body, anyOK)
}

// WebhookSign is the generic webhook's signature: hex HMAC-SHA256 of
// "timestamp." followed by the body, keyed by the secret.
func WebhookSign(timestamp string, body []byte, secret string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(timestamp + "."))
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}

// SMSBody is the SMS gateway's JSON.
type SMSBody struct {
	Phones []string `json:"phones"`
	Text   string   `json:"text"`
}

func (s *Sender) sms(ctx context.Context, c Channel, m Message) error {
	t := m.Text
	if m.Title != "" {
		t = m.Title + "：" + m.Text
	}
	body := SMSBody{Phones: c.Phones, Text: cutRunes(t, MaxSMSText)}
	var auth func([]byte) http.Header
	if c.Secret != "" {
		auth = func([]byte) http.Header { return http.Header{"Authorization": {"Bearer " + c.Secret}} }
	}
	return s.post(ctx, c.Kind, c.URL, auth, body, anyOK)
}

// judge reads a 2xx answer's body and says whether the platform took it.
type judge func(k Kind, status int, body []byte) error

// robotOK: WeCom and DingTalk answer {"errcode":0,"errmsg":"ok"}.
func robotOK(k Kind, status int, body []byte) error {
	var a struct {
		Code *int   `json:"errcode"`
		Msg  string `json:"errmsg"`
	}
	if err := json.Unmarshal(body, &a); err != nil || a.Code == nil {
		return &Error{Kind: k, Status: status, Message: "the answer is not the robot's JSON"}
	}
	return platformCode(k, status, *a.Code, a.Msg)
}

// feishuOK: Feishu answers {"code":0,"msg":"success"}.
func feishuOK(k Kind, status int, body []byte) error {
	var a struct {
		Code *int   `json:"code"`
		Msg  string `json:"msg"`
	}
	if err := json.Unmarshal(body, &a); err != nil || a.Code == nil {
		return &Error{Kind: k, Status: status, Message: "the answer is not the bot's JSON"}
	}
	return platformCode(k, status, *a.Code, a.Msg)
}

func platformCode(k Kind, status, code int, msg string) error {
	if code == 0 {
		return nil
	}
	retry := false
	for _, c := range tooFast[k] {
		retry = retry || c == code
	}
	return &Error{Kind: k, Status: status, Code: code, Message: msg, Retryable: retry}
}

func anyOK(Kind, int, []byte) error { return nil }

// maxAnswer bounds what is read of an answer.
const maxAnswer = 64 << 10

// post sends body as JSON; headers (may be nil) adds headers made from the
// encoded body.
func (s *Sender) post(ctx context.Context, k Kind, target string, headers func([]byte) http.Header, body any, ok judge) error {
	raw, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("notify: %s: encode: %w", k, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(raw))
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrInvalid, k, err)
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	if headers != nil {
		for name, vs := range headers(raw) {
			req.Header[name] = vs
		}
	}
	resp, err := s.client.Do(req)
	if err != nil {
		// The URL is left out: it carries the robot's key.
		return &Error{Kind: k, Message: "no answer: " + redact(err, target), Retryable: ctx.Err() == nil}
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return &Error{Kind: k, Status: resp.StatusCode, Message: "reading the answer: " + err.Error(), Retryable: true}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return &Error{Kind: k, Status: resp.StatusCode, Message: firstLine(answer),
			Retryable: resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusRequestTimeout}
	}
	return ok(k, resp.StatusCode, answer)
}

// redact removes target (and its query) from err's text.
func redact(err error, target string) string {
	msg := err.Error()
	if u, perr := url.Parse(target); perr == nil {
		msg = strings.ReplaceAll(msg, target, u.Scheme+"://"+u.Host+u.Path)
		msg = strings.ReplaceAll(msg, strconv.Quote(target), u.Scheme+"://"+u.Host+u.Path)
	}
	return msg
}

func firstLine(b []byte) string {
	s := strings.TrimSpace(string(b))
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return cut(s, 200)
}
