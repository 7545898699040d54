package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/dalaba/dalaba/protocol/schedule"
)

// Spec is the body of a desired state (Desired.Spec): what the box should
// run. Each feature owns one section; a box ignores none, because the
// decoder refuses unknown fields: a township newer than its box must bump V.
type Spec struct {
	Broadcast *Broadcast `json:"broadcast,omitempty"`
	Cameras   *Cameras   `json:"cameras,omitempty"`
}

// Broadcast is the loudspeaker section of a desired state: the village's
// speakers and zones, the announcements they play (by sha256) and when.
type Broadcast struct {
	// Quiet lists daily windows in which scheduled items do not play;
	// emergencies and live paging still do.
	Quiet []schedule.Quiet `json:"quiet,omitempty"`
	// TZ is the zone quiet hours are read in; empty is
	// schedule.DefaultZone.
	TZ string `json:"tz,omitempty"`
	// Chime is the pre-announcement chime: "" the built-in two-tone,
	// "off" none, or the sha256 of a clip in Media.
	Chime     string     `json:"chime,omitempty"`
	Speakers  []Speaker  `json:"speakers,omitempty"`
	Zones     []Zone     `json:"zones,omitempty"`
	Media     []Media    `json:"media,omitempty"`
	Schedules []Schedule `json:"schedules,omitempty"`
	// ListWindowH is how long, in hours, a box out of touch with the
	// township still plays list announcements; 0 means DefaultListWindowH.
	// Past it the box cannot confirm a list is current (an entry may have
	// been revoked meanwhile), so it skips them and records why.
	ListWindowH int `json:"list_window_h,omitempty"`
}

// DefaultListWindowH is three days.
const DefaultListWindowH = 72

// Schedule kinds.
const (
	SchedulePolicy = "policy" // default: plays whenever due
	ScheduleList   = "list"   // a 红黑榜 announcement: plays only while confirmed current
)

// ChimeOff in Broadcast.Chime turns the chime off.
const ChimeOff = "off"

// Speaker drivers.
const (
	DriverRTP       = "rtp"       // G.711 over RTP, unicast or multicast
	DriverSoundcard = "soundcard" // the box's line-out
	DriverHTTP      = "http"      // a network speaker told a URL to fetch
)

// Speaker is one loudspeaker, or one multicast group of them.
type Speaker struct {
	ID     string `json:"id"`
	Name   string `json:"name,omitempty"`
	Driver string `json:"driver"`
	// Addr is host:port, or group:port for multicast (rtp).
	Addr string `json:"addr,omitempty"`
	// Codec is PCMU (default) or PCMA (rtp).
	Codec string `json:"codec,omitempty"`
	// TTL is the multicast hop limit, 1-255; 0 means 1 (rtp multicast).
	TTL int `json:"ttl,omitempty"`
	// Interface names the interface multicast leaves by (rtp multicast).
	Interface string `json:"interface,omitempty"`
	// PlayURL is the speaker's play endpoint with {url} where the clip's
	// address goes; StopURL its optional stop endpoint (http).
	PlayURL string `json:"play_url,omitempty"`
	StopURL string `json:"stop_url,omitempty"`
	// Volume is 1-100 percent; 0 means 100.
	Volume int `json:"volume,omitempty"`
}

// Zone is a group of speakers addressed together (a hamlet, the square).
type Zone struct {
	ID       string   `json:"id"`
	Name     string   `json:"name,omitempty"`
	Speakers []string `json:"speakers"`
	// Volume is 1-100 percent, applied on top of each speaker's; 0 means
	// 100. The set-volume command overrides it until the next desired
	// state.
	Volume int `json:"volume,omitempty"`
}

// Media is an audio clip the box fetches from the township by its sha256.
type Media struct {
	SHA256 string `json:"sha256"`
	Name   string `json:"name,omitempty"`
	Size   int64  `json:"size"`
	// DurationMS lets the township plan without decoding; the box does
	// not trust it.
	DurationMS int64 `json:"duration_ms,omitempty"`
}

// PlayPriority is how urgently an item plays: a higher one interrupts a
// lower one on the zones they share.
type PlayPriority string

// Play priorities, lowest first.
const (
	PlayBackground PlayPriority = "background"
	PlayScheduled  PlayPriority = "scheduled"
	PlayPaging     PlayPriority = "paging"
	PlayEmergency  PlayPriority = "emergency"
)

// Rank orders priorities; 0 for an unknown one.
func (p PlayPriority) Rank() int {
	switch p {
	case PlayBackground:
		return 1
	case PlayScheduled:
		return 2
	case PlayPaging:
		return 3
	case PlayEmergency:
		return 4
	}
	return 0
}

// What becomes of an interrupted item.
const (
	PreemptResume = "resume" // plays the rest afterwards (default)
	PreemptSkip   = "skip"   // dropped
)

// Schedule is an announcement the box plays on its own clock.
type Schedule struct {
	ID    string   `json:"id"`
	Name  string   `json:"name,omitempty"`
	Media []string `json:"media"` // sha256s, played back to back
	// Zones the item plays on; empty means every zone.
	Zones    []string      `json:"zones,omitempty"`
	Rule     schedule.Rule `json:"rule"`
	Priority PlayPriority  `json:"priority,omitempty"` // background or scheduled (default)
	// OnPreempt is PreemptResume (default) or PreemptSkip.
	OnPreempt string `json:"on_preempt,omitempty"`
	NoChime   bool   `json:"no_chime,omitempty"`
	// Kind is SchedulePolicy (default) or ScheduleList.
	Kind string `json:"kind,omitempty"`
}

// Limits on a broadcast section, so one desired state stays within
// KindDesired's payload limit and the box's memory.
const (
	MaxSpeakers     = 256
	MaxZones        = 64
	MaxMedia        = 512
	MaxSchedules    = 512
	MaxItemMedia    = 16
	MaxNameLen      = 200 // bytes
	MaxMediaBytes   = 64 << 20
	maxDriverURLLen = 1024
)

// ValidateID checks a speaker, zone, schedule or camera id: 1-64 of a-z,
// 0-9, '-' and '_', not starting with '-' or '_'. Ids go into URLs, file
// names and log lines unescaped.
func ValidateID(id string) error {
	if id == "" || len(id) > 64 {
		return fmt.Errorf("id %q: must be 1-64 characters", id)
	}
	for i, r := range id {
		ok := (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') || ((r == '-' || r == '_') && i > 0)
		if !ok {
			return fmt.Errorf("id %q: only a-z, 0-9, '-' and '_' (not first) are allowed", id)
		}
	}
	return nil
}

// ValidateSHA256 checks a media reference: 64 lowercase hex digits.
func ValidateSHA256(s string) error {
	if len(s) != 64 {
		return fmt.Errorf("sha256 %q: want 64 hex digits", s)
	}
	for _, r := range s {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f') {
			return fmt.Errorf("sha256 %q: want lowercase hex digits", s)
		}
	}
	return nil
}

// Validate reports every problem with b at once, each naming where it is;
// nil means every reference resolves and the box can run b as written.
func (b *Broadcast) Validate() error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if len(b.Speakers) > MaxSpeakers || len(b.Zones) > MaxZones || len(b.Media) > MaxMedia || len(b.Schedules) > MaxSchedules {
		add("broadcast: too many parts (speakers %d/%d, zones %d/%d, media %d/%d, schedules %d/%d)",
			len(b.Speakers), MaxSpeakers, len(b.Zones), MaxZones, len(b.Media), MaxMedia, len(b.Schedules), MaxSchedules)
	}
	if err := schedule.ValidateQuiet(b.Quiet); err != nil {
		add("broadcast.quiet: %w", err)
	}
	if b.TZ != "" {
		if _, err := time.LoadLocation(b.TZ); err != nil {
			add("broadcast.tz %q: %w", b.TZ, err)
		}
	}
	media := map[string]bool{}
	for i, m := range b.Media {
		if err := ValidateSHA256(m.SHA256); err != nil {
			add("broadcast.media[%d]: %w", i, err)
		}
		if media[m.SHA256] {
			add("broadcast.media[%d]: %s listed twice", i, m.SHA256)
		}
		media[m.SHA256] = true
		if m.Size <= 0 || m.Size > MaxMediaBytes {
			add("broadcast.media[%d].size %d: want 1 to %d bytes", i, m.Size, MaxMediaBytes)
		}
		if len(m.Name) > MaxNameLen {
			add("broadcast.media[%d].name: longer than %d bytes", i, MaxNameLen)
		}
	}
	if b.Chime != "" && b.Chime != ChimeOff && !media[b.Chime] {
		add("broadcast.chime %q: want \"\", %q or the sha256 of a listed medium", b.Chime, ChimeOff)
	}
	speakers := map[string]bool{}
	for i, s := range b.Speakers {
		where := fmt.Sprintf("broadcast.speakers[%d]", i)
		if err := ValidateID(s.ID); err != nil {
			add("%s: %w", where, err)
		} else if speakers[s.ID] {
			add("%s: id %q used twice", where, s.ID)
		}
		speakers[s.ID] = true
		if err := s.validate(); err != nil {
			add("%s (%s): %w", where, s.ID, err)
		}
	}
	zones := map[string]bool{}
	for i, z := range b.Zones {
		where := fmt.Sprintf("broadcast.zones[%d]", i)
		if err := ValidateID(z.ID); err != nil {
			add("%s: %w", where, err)
		} else if zones[z.ID] {
			add("%s: id %q used twice", where, z.ID)
		}
		zones[z.ID] = true
		if len(z.Name) > MaxNameLen {
			add("%s.name: longer than %d bytes", where, MaxNameLen)
		}
		if len(z.Speakers) == 0 {
			add("%s (%s): no speakers", where, z.ID)
		}
		for _, sp := range z.Speakers {
			if !speakers[sp] {
				add("%s (%s): unknown speaker %q", where, z.ID, sp)
			}
		}
		if z.Volume < 0 || z.Volume > 100 {
			add("%s (%s).volume %d: want 1-100, or 0 for 100", where, z.ID, z.Volume)
		}
	}
	ids := map[string]bool{}
	for i, s := range b.Schedules {
		where := fmt.Sprintf("broadcast.schedules[%d]", i)
		if err := ValidateID(s.ID); err != nil {
			add("%s: %w", where, err)
		} else if ids[s.ID] {
			add("%s: id %q used twice", where, s.ID)
		}
		ids[s.ID] = true
		if len(s.Name) > MaxNameLen {
			add("%s.name: longer than %d bytes", where, MaxNameLen)
		}
		if len(s.Media) == 0 || len(s.Media) > MaxItemMedia {
			add("%s (%s).media: want 1 to %d clips", where, s.ID, MaxItemMedia)
		}
		for _, m := range s.Media {
			if !media[m] {
				add("%s (%s): medium %q is not in broadcast.media", where, s.ID, m)
			}
		}
		for _, z := range s.Zones {
			if !zones[z] {
				add("%s (%s): unknown zone %q", where, s.ID, z)
			}
		}
		if len(s.Zones) == 0 && len(b.Zones) == 0 {
			add("%s (%s): no zones to play on", where, s.ID)
		}
		if err := s.Rule.Validate(); err != nil {
			add("%s (%s).rule: %w", where, s.ID, err)
		}
		switch s.Priority {
		case "", PlayBackground, PlayScheduled:
		default:
			add("%s (%s).priority %q: a schedule is %q or %q; paging and emergencies are commands", where, s.ID, s.Priority, PlayBackground, PlayScheduled)
		}
		if err := validatePreempt(s.OnPreempt); err != nil {
			add("%s (%s): %w", where, s.ID, err)
		}
		if s.Kind != "" && s.Kind != SchedulePolicy && s.Kind != ScheduleList {
			add("%s (%s).kind %q: want %q or %q", where, s.ID, s.Kind, SchedulePolicy, ScheduleList)
		}
	}
	if b.ListWindowH < 0 || b.ListWindowH > 24*365 {
		add("broadcast.list_window_h %d: want 1 to %d hours, or 0 for %d", b.ListWindowH, 24*365, DefaultListWindowH)
	}
	return errors.Join(errs...)
}

func validatePreempt(p string) error {
	switch p {
	case "", PreemptResume, PreemptSkip:
		return nil
	}
	return fmt.Errorf("on_preempt %q: want %q or %q", p, PreemptResume, PreemptSkip)
}

func (s Speaker) validate() error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if len(s.Name) > MaxNameLen {
		add("name: longer than %d bytes", MaxNameLen)
	}
	if s.Volume < 0 || s.Volume > 100 {
		add("volume %d: want 1-100, or 0 for 100", s.Volume)
	}
	switch s.Driver {
	case DriverRTP:
		host, port, err := net.SplitHostPort(s.Addr)
		if err != nil || host == "" || port == "" || port == "0" {
			add("addr %q: want host:port", s.Addr)
		}
		switch s.Codec {
		case "", "PCMU", "PCMA":
		default:
			add("codec %q: want PCMU or PCMA", s.Codec)
		}
		if s.TTL < 0 || s.TTL > 255 {
			add("ttl %d: want 1-255, or 0 for 1", s.TTL)
		}
	case DriverHTTP:
		if err := checkDriverURL(s.PlayURL, true); err != nil {
			add("play_url: %w", err)
		}
		if s.StopURL != "" {
			if err := checkDriverURL(s.StopURL, false); err != nil {
				add("stop_url: %w", err)
			}
		}
	case DriverSoundcard:
	default:
		add("driver %q: want %q, %q or %q", s.Driver, DriverRTP, DriverSoundcard, DriverHTTP)
	}
	return errors.Join(errs...)
}

func checkDriverURL(raw string, needPlaceholder bool) error {
	if len(raw) > maxDriverURLLen {
		return fmt.Errorf("longer than %d bytes", maxDriverURLLen)
	}
	if needPlaceholder && !strings.Contains(raw, "{url}") {
		return fmt.Errorf("%q has no {url} for the clip's address", raw)
	}
	u, err := url.Parse(strings.ReplaceAll(raw, "{url}", "x"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q: want an http or https URL", raw)
	}
	return nil
}

// Commands of the broadcast feature (Command.Type) and their arguments.
const (
	CmdPlay   = "broadcast.play"   // PlayArgs; result PlayResult
	CmdStop   = "broadcast.stop"   // StopArgs
	CmdVolume = "broadcast.volume" // VolumeArgs
)

// PlayArgs plays clips now.
type PlayArgs struct {
	Media []string `json:"media"` // sha256s, back to back; fetched if not cached
	// Zones to play on; empty means every zone.
	Zones     []string     `json:"zones,omitempty"`
	Priority  PlayPriority `json:"priority,omitempty"` // default scheduled
	OnPreempt string       `json:"on_preempt,omitempty"`
	NoChime   bool         `json:"no_chime,omitempty"`
	// Repeat plays the clips this many times in all, 1-10; 0 means 1
	// (an emergency is often said three times).
	Repeat int    `json:"repeat,omitempty"`
	Name   string `json:"name,omitempty"`
}

// MaxRepeat bounds PlayArgs.Repeat.
const MaxRepeat = 10

// Validate checks the arguments on their own; zones are the box's to check.
func (a PlayArgs) Validate() error {
	var errs []error
	if len(a.Media) == 0 || len(a.Media) > MaxItemMedia {
		errs = append(errs, fmt.Errorf("media: want 1 to %d clips", MaxItemMedia))
	}
	for _, m := range a.Media {
		if err := ValidateSHA256(m); err != nil {
			errs = append(errs, fmt.Errorf("media: %w", err))
		}
	}
	for _, z := range a.Zones {
		if err := ValidateID(z); err != nil {
			errs = append(errs, fmt.Errorf("zones: %w", err))
		}
	}
	if a.Priority != "" && a.Priority.Rank() == 0 {
		errs = append(errs, fmt.Errorf("priority %q: want background, scheduled, paging or emergency", a.Priority))
	}
	if err := validatePreempt(a.OnPreempt); err != nil {
		errs = append(errs, err)
	}
	if a.Repeat < 0 || a.Repeat > MaxRepeat {
		errs = append(errs, fmt.Errorf("repeat %d: want 1-%d, or 0 for 1", a.Repeat, MaxRepeat))
	}
	if len(a.Name) > MaxNameLen {
		errs = append(errs, fmt.Errorf("name: longer than %d bytes", MaxNameLen))
	}
	return errors.Join(errs...)
}

// PlayResult answers CmdPlay once the item is queued.
type PlayResult struct {
	ItemID string `json:"item_id"`
}

// StopArgs stops what plays, and drops what waits, on zones (every zone
// when none are named).
type StopArgs struct {
	Zones []string `json:"zones,omitempty"`
}

// Validate checks the arguments on their own; zones are the box's to check.
func (a StopArgs) Validate() error {
	var errs []error
	for _, z := range a.Zones {
		if err := ValidateID(z); err != nil {
			errs = append(errs, fmt.Errorf("zones: %w", err))
		}
	}
	return errors.Join(errs...)
}

// VolumeArgs sets a zone's volume until the next desired state.
type VolumeArgs struct {
	Zone   string `json:"zone"`
	Volume int    `json:"volume"` // 0-100
}

// Validate checks the arguments on their own.
func (a VolumeArgs) Validate() error {
	var errs []error
	if err := ValidateID(a.Zone); err != nil {
		errs = append(errs, fmt.Errorf("zone: %w", err))
	}
	if a.Volume < 0 || a.Volume > 100 {
		errs = append(errs, fmt.Errorf("volume %d: want 0-100", a.Volume))
	}
	return errors.Join(errs...)
}

// Event types of the broadcast feature.
const (
	EventPlayed         = "broadcast.played"          // data: PlayLog
	EventSkipped        = "broadcast.skipped"         // data: Skip
	EventClockUntrusted = "broadcast.clock_untrusted" // data: ClockUntrusted
	EventBroadcastError = "broadcast.error"           // data: BroadcastError
	EventSpeakerHealth  = "speaker.health"            // data: SpeakerHealth
)

// PlayLog is one playback: what, scheduled when, started when, where, and
// how it went.
type PlayLog struct {
	ItemID      string       `json:"item_id"`
	ScheduleID  string       `json:"schedule_id,omitempty"`
	CommandID   string       `json:"command_id,omitempty"`
	Name        string       `json:"name,omitempty"`
	Media       []string     `json:"media"`
	Priority    PlayPriority `json:"priority"`
	ScheduledAt time.Time    `json:"scheduled_at,omitzero"`
	StartedAt   time.Time    `json:"started_at,omitzero"`
	EndedAt     time.Time    `json:"ended_at,omitzero"`
	Zones       []string     `json:"zones"`
	// Speakers played it through; Errors says why the others did not.
	Speakers []string          `json:"speakers"`
	Errors   map[string]string `json:"errors,omitempty"`
	// Result is played, preempted (a resumed playback follows), skipped
	// (interrupted and dropped, or stopped) or failed.
	Result   string `json:"result"`
	Resumed  bool   `json:"resumed,omitempty"`
	OffsetMS int64  `json:"offset_ms,omitempty"`
}

// Skip records scheduled occurrences that did not play.
type Skip struct {
	ScheduleID string    `json:"schedule_id"`
	At         time.Time `json:"at"`              // the (last) occurrence skipped
	Count      int       `json:"count,omitempty"` // occurrences folded into this record
	Reason     string    `json:"reason"`          // quiet_hours, late, …
}

// Reasons in Skip besides the scheduler's (quiet_hours, late).
const (
	SkipListUnconfirmed = "list_unconfirmed" // out of touch with the township past the list window
)

// ClockUntrusted says the box holds its schedules because its clock cannot
// be trusted.
type ClockUntrusted struct {
	Clock time.Time `json:"clock"`
	Floor time.Time `json:"floor,omitzero"`
}

// BroadcastError is a failure that kept something from playing: a clip
// that would not download or decode, a speaker that could not be made.
type BroadcastError struct {
	What       string `json:"what"` // media, speaker, item
	ID         string `json:"id,omitempty"`
	ScheduleID string `json:"schedule_id,omitempty"`
	Error      string `json:"error"`
}

// SpeakerHealth is a change in a speaker's reachability.
type SpeakerHealth struct {
	ID        string `json:"id"`
	Reachable bool   `json:"reachable"`
	Error     string `json:"error,omitempty"`
}

// DecodeSpec decodes and validates a desired state's Spec, refusing unknown
// fields; an empty Spec is the empty state (nothing to play). OpenDesired
// and SignDesired have checked it already; this gives it its type.
func DecodeSpec(raw json.RawMessage) (Spec, error) {
	s, err := parseSpec(raw)
	if err != nil {
		return Spec{}, reject(KindDesired, ReasonInvalid, err)
	}
	return s, nil
}

func parseSpec(raw json.RawMessage) (Spec, error) {
	var s Spec
	if len(bytes.TrimSpace(raw)) == 0 {
		return s, nil
	}
	if err := decodeArgs(raw, &s); err != nil {
		return Spec{}, fmt.Errorf("spec: %w", err)
	}
	var errs []error
	if s.Broadcast != nil {
		errs = append(errs, s.Broadcast.Validate())
	}
	if s.Cameras != nil {
		errs = append(errs, s.Cameras.Validate())
	}
	if err := errors.Join(errs...); err != nil {
		return Spec{}, err
	}
	return s, nil
}

// DecodeArgs decodes a command's Args into dst, refusing unknown fields and
// trailing data; empty Args decode as the zero value.
func DecodeArgs(raw json.RawMessage, dst any) error {
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil
	}
	return decodeArgs(raw, dst)
}

func decodeArgs(raw []byte, dst any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("trailing data after the object")
	}
	return nil
}
