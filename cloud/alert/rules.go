package alert

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/dalaba/dalaba/cloud/notify"
	"github.com/dalaba/dalaba/cloud/store"
	"github.com/dalaba/dalaba/protocol/schedule"
)

// The kinds of rule.
const (
	RuleBoxOffline       = "box_offline"
	RuleSpeakerFailed    = "speaker_failed"
	RuleCameraOffline    = "camera_offline"
	RuleDiskLow          = "disk_low"
	RuleClockUntrusted   = "clock_untrusted"
	RulePlaybackFailed   = "playback_failed"
	RuleUpdateRolledBack = "update_rolled_back"
)

// ErrInvalid marks settings the alerting refuses; nothing was changed.
var ErrInvalid = errors.New("alert: invalid")

// Kinds lists every kind of rule, in the order the console shows them.
func Kinds() []string {
	return []string{RuleBoxOffline, RuleSpeakerFailed, RuleCameraOffline, RuleDiskLow, RuleClockUntrusted, RulePlaybackFailed, RuleUpdateRolledBack}
}

// notice reports whether a kind is a one-off with nothing to clear.
func notice(kind string) bool { return kind == RulePlaybackFailed || kind == RuleUpdateRolledBack }

// DefaultRules are the rules a township starts with: everything on, a box
// offline after ten minutes and urgent (a silent village cannot be warned
// of a flood), the rest not.
func DefaultRules() []store.AlertRule {
	return []store.AlertRule{
		{Kind: RuleBoxOffline, Enabled: true, HoldDown: 10 * time.Minute, Urgent: true},
		{Kind: RuleSpeakerFailed, Enabled: true, HoldDown: 10 * time.Minute},
		{Kind: RuleCameraOffline, Enabled: true, HoldDown: 15 * time.Minute},
		{Kind: RuleDiskLow, Enabled: true, HoldDown: 30 * time.Minute, Threshold: 10},
		{Kind: RuleClockUntrusted, Enabled: true, HoldDown: 15 * time.Minute},
		{Kind: RulePlaybackFailed, Enabled: true},
		{Kind: RuleUpdateRolledBack, Enabled: true, Urgent: true},
	}
}

// Rules returns the settings' rules with a default for every kind they
// lack, in Kinds order.
func Rules(s store.AlertSettings) []store.AlertRule {
	out := DefaultRules()
	for i, d := range out {
		for _, r := range s.Rules {
			if r.Kind == d.Kind {
				out[i] = r
			}
		}
	}
	return out
}

// Bounds of the settings.
const (
	MaxHoldDown = 24 * time.Hour
	MaxChannels = 20
)

var channelID = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,63}$`)

// ValidateChannel reports every problem of c at once.
func ValidateChannel(c store.AlertChannel) error {
	var errs []error
	bad := func(format string, a ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, a...)...))
	}
	if !channelID.MatchString(c.ID) {
		bad("id %q: 1-64 of a-z, 0-9 and '-', starting with a letter or digit", c.ID)
	}
	if n := utf8.RuneCountInString(c.Name); n < 1 || n > 64 {
		bad("name: 1-64 characters")
	}
	if err := NotifyChannel(c).Validate(); err != nil {
		bad("%v", err)
	}
	return errors.Join(errs...)
}

// NotifyChannel is c as notify sends to it.
func NotifyChannel(c store.AlertChannel) notify.Channel {
	return notify.Channel{Kind: notify.Kind(c.Kind), URL: c.URL, Secret: c.Secret, Phones: c.Phones}
}

// ValidateRule reports every problem of r at once; channels are the ids
// it may name.
func ValidateRule(r store.AlertRule, channels []store.AlertChannel) error {
	var errs []error
	bad := func(format string, a ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, a...)...))
	}
	if !slices.Contains(Kinds(), r.Kind) {
		bad("kind %q is not one of %v", r.Kind, Kinds())
	}
	switch {
	case notice(r.Kind) && r.HoldDown != 0:
		bad("hold_down: a %s is a one-off alert and has none", r.Kind)
	case !notice(r.Kind) && (r.HoldDown < time.Second || r.HoldDown > MaxHoldDown):
		bad("hold_down %s: 1s to %s", r.HoldDown, MaxHoldDown)
	}
	switch {
	case r.Kind == RuleDiskLow && (r.Threshold < 1 || r.Threshold > 90):
		bad("threshold %d: the percent of free space below which the disk is low, 1-90", r.Threshold)
	case r.Kind != RuleDiskLow && r.Threshold != 0:
		bad("threshold: only disk_low has one")
	}
	for _, id := range r.Channels {
		if !slices.ContainsFunc(channels, func(c store.AlertChannel) bool { return c.ID == id }) {
			bad("channels: no channel %q", id)
		}
	}
	return errors.Join(errs...)
}

// ValidateQuiet reports what is wrong with quiet hours.
func ValidateQuiet(q store.QuietHours) error {
	var errs []error
	if schedule.ValidateQuiet([]schedule.Quiet{{From: q.From, To: q.To}}) != nil {
		errs = append(errs, fmt.Errorf("%w: from %q to %q: want two different times of day, HH:MM", ErrInvalid, q.From, q.To))
	}
	if _, err := time.LoadLocation(q.Zone); err != nil || q.Zone == "" {
		errs = append(errs, fmt.Errorf("%w: zone %q is not a time zone", ErrInvalid, q.Zone))
	}
	return errors.Join(errs...)
}

// MaskedURL is a channel URL as people may read it: scheme, host and
// path, its query (where the robots' keys and access tokens are) and a
// long last path segment (the Feishu hook's token) replaced by "…".
func MaskedURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return ""
	}
	path := u.EscapedPath()
	if i := strings.LastIndexByte(path, '/'); i >= 0 && len(path)-i-1 > 12 {
		path = path[:i+1] + "…"
	}
	out := u.Scheme + "://" + u.Host + path
	if u.RawQuery != "" {
		out += "?…"
	}
	return out
}
