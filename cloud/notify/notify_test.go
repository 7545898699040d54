package notify_test

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/dalaba/dalaba/cloud/notify"
	"github.com/dalaba/dalaba/cloud/notify/notifytest"
)

func poster(t *testing.T) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 40, 60))
	for x := range 40 {
		img.Set(x, 10, color.RGBA{200, 0, 0, 255})
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestEveryKindIsSentAsItsPlatformDocumentsIt(t *testing.T) {
	rcv := notifytest.New(t, nil)
	s := notify.NewSender(nil, nil)
	pic := poster(t)
	m := notify.Message{Title: "东山村 2026年11月 红黑榜", Text: "红榜：张三（孝老爱亲）", Image: pic,
		ImageURL: "https://township.example.cn/p/abc.png", Link: "https://township.example.cn/lists"}
	for _, k := range notify.Kinds() {
		if err := s.Send(t.Context(), rcv.Channel(k), m); err != nil {
			t.Errorf("%s: %v", k, err)
		}
	}
	if r := rcv.Refused(); len(r) > 0 {
		t.Fatalf("the receiver refused: %q", r)
	}
	got := map[notify.Kind][]notifytest.Received{}
	for _, r := range rcv.Received() {
		got[r.Kind] = append(got[r.Kind], r)
	}
	// WeCom: the text, then the picture as bytes.
	if w := got[notify.KindWeCom]; len(w) != 2 || w[0].Type != "text" || !strings.Contains(w[0].Text, "张三") ||
		w[1].Type != "image" || !bytes.Equal(w[1].Image, pic) {
		t.Errorf("wecom got %+v", w)
	}
	// DingTalk: markdown linking the picture, signed.
	if d := got[notify.KindDingTalk]; len(d) != 1 || d[0].Type != "markdown" || d[0].ImageURL != m.ImageURL || d[0].Title != m.Title {
		t.Errorf("dingtalk got %+v", d)
	}
	if f := got[notify.KindFeishu]; len(f) != 1 || !strings.Contains(f[0].Text, m.ImageURL) || !strings.Contains(f[0].Text, "张三") {
		t.Errorf("feishu got %+v", f)
	}
	if w := got[notify.KindWebhook]; len(w) != 1 || !bytes.Equal(w[0].Image, pic) || w[0].Title != m.Title {
		t.Errorf("webhook got %+v", w)
	}
	if s := got[notify.KindSMS]; len(s) != 1 || s[0].Phones[0] != "13800138000" || !strings.HasPrefix(s[0].Text, m.Title+"：") {
		t.Errorf("sms got %+v", s)
	}
}

func TestWithoutAPictureLinkDingTalkSendsText(t *testing.T) {
	rcv := notifytest.New(t, nil)
	if err := notify.NewSender(nil, nil).Send(t.Context(), rcv.Channel(notify.KindDingTalk), notify.Message{Text: "东山村广播盒离线 12 分钟"}); err != nil {
		t.Fatal(err)
	}
	if r := rcv.Received(); len(r) != 1 || r[0].Type != "text" || r[0].Text != "东山村广播盒离线 12 分钟" {
		t.Fatalf("got %+v", r)
	}
}

func TestWrongSecretsAndStaleClocksAreRefusedAndNotRetried(t *testing.T) {
	rcv := notifytest.New(t, nil)
	m := notify.Message{Text: "测试"}
	cases := []struct {
		name string
		ch   func() notify.Channel
		now  func() time.Time
	}{
		{"dingtalk, wrong secret", func() notify.Channel {
			c := rcv.Channel(notify.KindDingTalk)
			c.Secret = "SECsomething-else"
			return c
		}, nil},
		{"dingtalk, clock two hours off", func() notify.Channel { return rcv.Channel(notify.KindDingTalk) },
			func() time.Time { return time.Now().Add(-2 * time.Hour) }},
		{"feishu, wrong secret", func() notify.Channel {
			c := rcv.Channel(notify.KindFeishu)
			c.Secret = "nope"
			return c
		}, nil},
		{"wecom, wrong key", func() notify.Channel {
			c := rcv.Channel(notify.KindWeCom)
			c.URL = strings.Replace(c.URL, notifytest.WeComKey, "other-key", 1)
			return c
		}, nil},
		{"webhook, wrong secret", func() notify.Channel {
			c := rcv.Channel(notify.KindWebhook)
			c.Secret = "x"
			return c
		}, nil},
		{"sms, wrong token", func() notify.Channel {
			c := rcv.Channel(notify.KindSMS)
			c.Secret = "x"
			return c
		}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := len(rcv.Refused())
			err := notify.NewSender(nil, c.now).Send(t.Context(), c.ch(), m)
			var e *notify.Error
			if !errors.As(err, &e) || e.Retryable {
				t.Fatalf("err %v, want a notify.Error that is not retryable", err)
			}
			if len(rcv.Refused()) != before+1 {
				t.Errorf("the receiver did not refuse it: %q", rcv.Refused())
			}
		})
	}
	if n := len(rcv.Received()); n != 0 {
		t.Errorf("%d messages accepted", n)
	}
}

func TestBadChannelsAndMessagesAreRefusedBeforeSending(t *testing.T) {
	rcv := notifytest.New(t, nil)
	s := notify.NewSender(nil, nil)
	good := rcv.Channel(notify.KindSMS)
	cases := []struct {
		name string
		ch   notify.Channel
		m    notify.Message
	}{
		{"unknown kind", notify.Channel{Kind: "pager", URL: "https://x.example/"}, notify.Message{Text: "x"}},
		{"no url", notify.Channel{Kind: notify.KindWeCom}, notify.Message{Text: "x"}},
		{"ftp url", notify.Channel{Kind: notify.KindWebhook, URL: "ftp://x.example/"}, notify.Message{Text: "x"}},
		{"credentials in url", notify.Channel{Kind: notify.KindWebhook, URL: "https://u:p@x.example/"}, notify.Message{Text: "x"}},
		{"sms without phones", notify.Channel{Kind: notify.KindSMS, URL: good.URL}, notify.Message{Text: "x"}},
		{"sms to a landline", notify.Channel{Kind: notify.KindSMS, URL: good.URL, Phones: []string{"0571-8888888"}}, notify.Message{Text: "x"}},
		{"phones on a robot", notify.Channel{Kind: notify.KindWeCom, URL: good.URL, Phones: []string{"13800138000"}}, notify.Message{Text: "x"}},
		{"empty message", good, notify.Message{}},
		{"picture too large", good, notify.Message{Text: "x", Image: make([]byte, notify.MaxWeComImg+1)}},
		{"not UTF-8", good, notify.Message{Text: "\xff\xfe"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := s.Send(t.Context(), c.ch, c.m); !errors.Is(err, notify.ErrInvalid) {
				t.Fatalf("err %v, want ErrInvalid", err)
			}
		})
	}
	if n := len(rcv.Received()) + len(rcv.Refused()); n != 0 {
		t.Errorf("%d requests reached the receiver", n)
	}
}

func TestLongTextIsCutToWhatThePlatformTakes(t *testing.T) {
	rcv := notifytest.New(t, nil)
	s := notify.NewSender(nil, nil)
	long := strings.Repeat("红黑榜公示", 400) // 6,000 bytes
	for _, k := range []notify.Kind{notify.KindWeCom, notify.KindSMS} {
		if err := s.Send(t.Context(), rcv.Channel(k), notify.Message{Text: long}); err != nil {
			t.Fatalf("%s: %v", k, err)
		}
	}
	r := rcv.Received()
	if len(r) != 2 {
		t.Fatalf("received %d, refused %q", len(r), rcv.Refused())
	}
	if len(r[0].Text) > notify.MaxWeComText || !utf8.ValidString(r[0].Text) || !strings.HasSuffix(r[0].Text, "…") {
		t.Errorf("wecom text: %d bytes, valid %v", len(r[0].Text), utf8.ValidString(r[0].Text))
	}
	if n := utf8.RuneCountInString(r[1].Text); n != notify.MaxSMSText || !strings.HasSuffix(r[1].Text, "…") {
		t.Errorf("sms text: %d characters", n)
	}
}

// fakeSleep records the waits Deliver asks for and never waits.
type fakeSleep struct{ waits []time.Duration }

func (f *fakeSleep) sleep(_ context.Context, d time.Duration) bool {
	f.waits = append(f.waits, d)
	return true
}

func TestDeliverRetriesWhatMaySucceedLater(t *testing.T) {
	b := notify.Backoff{Initial: time.Second, Max: 3 * time.Second, Attempts: 5}
	cases := []struct {
		name            string
		kind            notify.Kind
		status, code, n int
		wantAttempts    int
		wantDelivered   bool
		wantWaits       []time.Duration
	}{
		{"server errors, then through", notify.KindWeCom, http.StatusInternalServerError, 0, 2, 3, true, []time.Duration{time.Second, 2 * time.Second}},
		{"too fast (DingTalk 130101), then through", notify.KindDingTalk, http.StatusOK, 130101, 1, 2, true, []time.Duration{time.Second}},
		{"rate limited (429) every time", notify.KindWebhook, http.StatusTooManyRequests, 0, 9, 5, false,
			[]time.Duration{time.Second, 2 * time.Second, 3 * time.Second, 3 * time.Second}},
		{"a refusal is not retried", notify.KindFeishu, http.StatusOK, 9499, 1, 1, false, nil},
		{"a client error is not retried", notify.KindSMS, http.StatusBadRequest, 0, 1, 1, false, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rcv := notifytest.New(t, nil)
			rcv.FailNext(c.kind, c.n, c.status, c.code)
			var fs fakeSleep
			var tries []error
			out := notify.Deliver(t.Context(), notify.NewSender(nil, nil), rcv.Channel(c.kind), notify.Message{Text: "告警"}, b, fs.sleep,
				func(n int, err error) { tries = append(tries, err) })
			if out.Attempts != c.wantAttempts || (out.Err == nil) != c.wantDelivered || len(tries) != out.Attempts {
				t.Fatalf("attempts %d (told %d), err %v; want %d attempts, delivered %v", out.Attempts, len(tries), out.Err, c.wantAttempts, c.wantDelivered)
			}
			if len(fs.waits) != len(c.wantWaits) {
				t.Fatalf("waits %v, want %v", fs.waits, c.wantWaits)
			}
			for i := range fs.waits {
				if fs.waits[i] != c.wantWaits[i] {
					t.Fatalf("waits %v, want %v", fs.waits, c.wantWaits)
				}
			}
			if delivered := len(rcv.Received()) == 1; delivered != c.wantDelivered {
				t.Errorf("receiver holds %d messages", len(rcv.Received()))
			}
		})
	}
}

func TestDeliverStopsWhenItsContextEnds(t *testing.T) {
	rcv := notifytest.New(t, nil)
	rcv.FailNext(notify.KindWeCom, 10, http.StatusBadGateway, 0)
	ctx, cancel := context.WithCancel(t.Context())
	out := notify.Deliver(ctx, notify.NewSender(nil, nil), rcv.Channel(notify.KindWeCom), notify.Message{Text: "x"},
		notify.DefaultBackoff(), func(context.Context, time.Duration) bool { cancel(); return false }, nil)
	if out.Attempts != 1 || out.Err == nil {
		t.Fatalf("attempts %d err %v, want one failed attempt", out.Attempts, out.Err)
	}
}

func TestAnUnreachableChannelIsRetryableAndItsKeyStaysOutOfTheError(t *testing.T) {
	c := notify.Channel{Kind: notify.KindWeCom, URL: "http://127.0.0.1:1/cgi-bin/webhook/send?key=secret-key-123"}
	err := notify.NewSender(nil, nil).Send(t.Context(), c, notify.Message{Text: "x"})
	if !notify.Retryable(err) {
		t.Fatalf("err %v, want retryable", err)
	}
	if strings.Contains(err.Error(), "secret-key-123") {
		t.Errorf("the error shows the robot's key: %v", err)
	}
}
