package notify

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"unicode/utf8"
)

// Kind is the kind of a channel.
type Kind string

// The kinds of channel.
const (
	KindWeCom    Kind = "wecom"    // 企业微信 group robot
	KindDingTalk Kind = "dingtalk" // 钉钉 group robot
	KindFeishu   Kind = "feishu"   // 飞书 custom bot
	KindWebhook  Kind = "webhook"  // any HTTP endpoint taking the generic JSON
	KindSMS      Kind = "sms"      // an SMS gateway taking the generic SMS JSON
)

// Kinds lists every kind, in the order a form offers them.
func Kinds() []Kind { return []Kind{KindWeCom, KindDingTalk, KindFeishu, KindWebhook, KindSMS} }

// Channel is one destination.
type Channel struct {
	Kind Kind `json:"kind"`
	// URL is the robot's webhook URL as the platform gave it (its key or
	// access token included), the webhook's, or the SMS gateway's.
	URL string `json:"url"`
	// Secret is DingTalk's or Feishu's signing secret, the webhook's HMAC
	// key, or the SMS gateway's bearer token; empty for none. Write-only:
	// callers show it masked.
	Secret string `json:"secret,omitempty"`
	// Phones are the SMS recipients (mainland mobile numbers or E.164).
	Phones []string `json:"phones,omitempty"`
}

// Message is what a channel is told.
type Message struct {
	Title string // a line that names the matter: "东山村广播盒离线"
	Text  string // the message itself, plain text, Chinese first
	// Image is a picture to show with the text (a poster), PNG or JPEG;
	// WeCom and the webhook receive its bytes.
	Image []byte
	// ImageURL is where the picture can be fetched, for DingTalk and
	// Feishu, whose robots cannot upload one; without it they get the
	// text alone.
	ImageURL string
	// Link is a page with more (the console's page of the matter).
	Link string
}

// Limits the platforms set, and ours for SMS.
const (
	MaxWeComText = 2048    // bytes of a WeCom text message
	MaxWeComImg  = 2 << 20 // bytes of a WeCom picture before encoding
	MaxSMSText   = 300     // characters of an SMS
	maxPhones    = 50
	maxTextBytes = 16 << 10 // any message's text, before a platform's own cut
)

// ErrInvalid is returned (wrapped) for a channel or message that cannot be
// sent as it is.
var ErrInvalid = errors.New("notify: invalid")

var phone = regexp.MustCompile(`^(1[3-9][0-9]{9}|\+[1-9][0-9]{6,14})$`)

// Validate reports every problem of c at once.
func (c Channel) Validate() error {
	var errs []error
	bad := func(format string, a ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, a...)...))
	}
	switch c.Kind {
	case KindWeCom, KindDingTalk, KindFeishu, KindWebhook, KindSMS:
	default:
		bad("kind %q is not one of wecom, dingtalk, feishu, webhook, sms", c.Kind)
	}
	u, err := url.Parse(c.URL)
	switch {
	case c.URL == "":
		bad("no url")
	case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "":
		bad("url %q is not an http(s) URL", c.URL)
	case u.User != nil:
		bad("url must not carry a user name or password; put a gateway's token in secret")
	}
	if len(c.Secret) > 512 {
		bad("secret is longer than 512 bytes")
	}
	if c.Kind == KindSMS {
		if len(c.Phones) == 0 || len(c.Phones) > maxPhones {
			bad("an SMS channel needs 1-%d phone numbers", maxPhones)
		}
		for _, p := range c.Phones {
			if !phone.MatchString(p) {
				bad("phone %q is not a mobile number (11 digits starting 13-19, or +country…)", p)
			}
		}
	} else if len(c.Phones) > 0 {
		bad("phones are for SMS channels only")
	}
	return errors.Join(errs...)
}

// Validate reports what makes m unsendable.
func (m Message) Validate() error {
	var errs []error
	if m.Text == "" && m.Title == "" {
		errs = append(errs, fmt.Errorf("%w: a message needs a title or text", ErrInvalid))
	}
	if !utf8.ValidString(m.Title) || !utf8.ValidString(m.Text) {
		errs = append(errs, fmt.Errorf("%w: title and text must be UTF-8", ErrInvalid))
	}
	if len(m.Text) > maxTextBytes {
		errs = append(errs, fmt.Errorf("%w: text is longer than %d bytes", ErrInvalid, maxTextBytes))
	}
	if len(m.Image) > MaxWeComImg {
		errs = append(errs, fmt.Errorf("%w: the picture is %d bytes, over %d", ErrInvalid, len(m.Image), MaxWeComImg))
	}
	if m.ImageURL != "" {
		if u, err := url.Parse(m.ImageURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") {
			errs = append(errs, fmt.Errorf("%w: image url %q is not an http(s) URL", ErrInvalid, m.ImageURL))
		}
	}
	return errors.Join(errs...)
}

// cut shortens s to at most n bytes on a rune boundary, marking the cut.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const more = "…"
	n -= len(more)
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + more
}

// cutRunes shortens s to at most n characters, marking the cut.
func cutRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}
