// Package announce turns a village's current 红黑榜 text into what its
// loudspeakers play: the text is spoken by the township's TTS engine, the
// audio stored in the media library by sha256, and the village's broadcast
// plan given (or updated with) a list schedule on the township's
// publication plan, so the box receives it in its next desired state.
//
// A revocation re-renders the text without the revoked entry: the schedule
// keeps its dates and gets the new audio, and the old audio, no longer in
// the box's desired state, leaves the box's cache as soon as the box
// applies it. List audio is referenced only by its own village's plan, and
// the media library serves a box only what its plan references.
//
// It knows nothing of list entries, HTTP or MQTT.
package announce

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/dalaba/dalaba/cloud/store"
	"github.com/dalaba/dalaba/protocol"
	"github.com/dalaba/dalaba/protocol/schedule"
)

// Speech is a TTS engine (cloud/tts).
type Speech interface {
	Synthesize(ctx context.Context, text string) ([]byte, error)
}

// Library stores clips (*media.Library).
type Library interface {
	Put(ctx context.Context, name string, r io.Reader, by string) (store.MediaInfo, error)
}

// Plans edits a box's broadcast plan and republishes its desired state
// (*plan.Planner).
type Plans interface {
	Update(ctx context.Context, box, by string, fn func(*protocol.Broadcast) error) (store.Plan, uint64, error)
}

// Config is the township's publication plan for list announcements.
type Config struct {
	// At lists the times of day the announcement plays; default 08:00
	// and 18:00.
	At []string `yaml:"at"`
	// Days is how many days, from the day of publication, it plays;
	// default 7.
	Days int `yaml:"days"`
	// Zone reads At and the days; default Asia/Shanghai.
	Zone string `yaml:"zone"`
}

// Default is the built-in publication plan.
func Default() Config {
	return Config{At: []string{"08:00", "18:00"}, Days: 7, Zone: schedule.DefaultZone}
}

// Validate checks the plan with the calendar code the box uses.
func (c Config) Validate() error {
	if c.Days < 1 || c.Days > 31 {
		return fmt.Errorf("announce: days %d: want 1 to 31", c.Days)
	}
	r := schedule.Rule{At: c.At, Zone: c.Zone}
	if len(c.At) == 0 {
		return errors.New("announce: at: want at least one time of day")
	}
	if err := r.Validate(); err != nil {
		return fmt.Errorf("announce: %w", err)
	}
	return nil
}

// Deps are what the announcer uses.
type Deps struct {
	Logger  *slog.Logger
	Speech  Speech
	Library Library
	Plans   Plans
	Now     func() time.Time // nil = time.Now
}

// Announcer implements the lists' Announcer.
type Announcer struct {
	cfg Config
	d   Deps
	loc *time.Location
}

// New checks cfg and deps.
func New(cfg Config, deps Deps) (*Announcer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Speech == nil || deps.Library == nil || deps.Plans == nil {
		return nil, errors.New("announce: needs speech, a library and plans")
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	loc, err := time.LoadLocation(cfg.Zone)
	if err != nil {
		return nil, fmt.Errorf("announce: zone: %w", err)
	}
	return &Announcer{cfg: cfg, d: deps, loc: loc}, nil
}

// ScheduleID is the id of period's list schedule in a village's plan.
func ScheduleID(period string) string { return "list-" + period }

// By is who the plan change and the clip are recorded as made by.
const By = "红黑榜"

// Announce makes text the village's list announcement for period ("YYYY-MM");
// empty text withdraws it. The schedule keeps the dates it was first
// published with; list schedules whose dates are over leave the plan.
func (a *Announcer) Announce(ctx context.Context, village, period, text string) error {
	if _, err := time.Parse("2006-01", period); err != nil {
		return fmt.Errorf("announce: period %q: want YYYY-MM", period)
	}
	id := ScheduleID(period)
	var clip store.MediaInfo
	if strings.TrimSpace(text) != "" {
		wav, err := a.d.Speech.Synthesize(ctx, text)
		if err != nil {
			return fmt.Errorf("announce: speaking %s's %s list: %w", village, period, err)
		}
		clip, err = a.d.Library.Put(ctx, fmt.Sprintf("红黑榜-%s-%s.wav", village, period), bytes.NewReader(wav), By)
		if err != nil {
			return fmt.Errorf("announce: storing %s's %s list audio: %w", village, period, err)
		}
	}
	today := a.d.Now().In(a.loc).Format(time.DateOnly)
	_, rev, err := a.d.Plans.Update(ctx, village, By, func(b *protocol.Broadcast) error {
		b.Schedules = slices.DeleteFunc(b.Schedules, func(s protocol.Schedule) bool {
			return s.Kind == protocol.ScheduleList && s.ID != id && s.Rule.End != "" && s.Rule.End < today
		})
		i := slices.IndexFunc(b.Schedules, func(s protocol.Schedule) bool { return s.ID == id })
		if clip.SHA256 == "" {
			if i >= 0 {
				b.Schedules = slices.Delete(b.Schedules, i, i+1)
			}
			return nil
		}
		if i < 0 {
			b.Schedules = append(b.Schedules, protocol.Schedule{ID: id, Kind: protocol.ScheduleList, Rule: a.rule(today)})
			i = len(b.Schedules) - 1
		}
		s := &b.Schedules[i]
		s.Name = fmt.Sprintf("红黑榜 %s", period)
		s.Media = []string{clip.SHA256}
		s.Kind = protocol.ScheduleList
		return nil
	})
	if err != nil {
		return fmt.Errorf("announce: scheduling %s's %s list: %w", village, period, err)
	}
	a.d.Logger.Info("list announcement scheduled", "village", village, "period", period, "sha256", clip.SHA256, "withdrawn", clip.SHA256 == "", "rev", rev)
	return nil
}

// rule is the publication plan from day on.
func (a *Announcer) rule(day string) schedule.Rule {
	start, _ := time.ParseInLocation(time.DateOnly, day, a.loc)
	end := start.AddDate(0, 0, a.cfg.Days-1)
	return schedule.Rule{At: slices.Clone(a.cfg.At), Start: day, End: end.Format(time.DateOnly), Zone: a.cfg.Zone}
}
