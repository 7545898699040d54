// Package store defines what the township service keeps: the box registry,
// the events boxes upload, users and their sessions, each box's broadcast
// plan and the index of uploaded audio. Implementations live in
// subpackages (boltstore by default, pgstore at scale) and must pass the
// storetest conformance suite. Nothing here mentions bbolt or SQL.
package store

import (
	"context"
	"errors"
	"time"

	"github.com/dalaba/dalaba/protocol"
)

// Sentinel errors every implementation returns (wrapped) so callers can
// branch with errors.Is.
var (
	ErrNotFound = errors.New("store: not found")
	ErrExists   = errors.New("store: already exists")
	// ErrBadFilter: a search cannot run as asked (see SearchEvents).
	ErrBadFilter = errors.New("store: bad filter")
	// ErrFull: the store's disk has no room for what it must keep (Ping).
	ErrFull = errors.New("store: disk full")
)

// Box is one registered village box.
type Box struct {
	ID   string
	Name string
	// SecretHash is sha256 of the box's MQTT password. The password is 256
	// random bits, so a fast hash is enough and a broker can check every
	// connect cheaply.
	SecretHash []byte
	CreatedAt  time.Time

	Online        bool
	LastSeen      time.Time // last message of any kind from the box
	AppliedRev    uint64    // as last reported by the box
	OutboxBacklog uint64    // as last reported by the box
	ReportedAt    time.Time // when the box last reported

	DesiredRev uint64 // rev of the desired state last signed for the box

	// Watermark is the highest seq such that every seq at or below it is
	// stored or was settled by a batch floor: what the cloud acknowledges.
	Watermark uint64
}

// Event is one stored box event.
type Event struct {
	BoxID      string
	Seq        uint64
	Time       time.Time // when the box recorded it (box clock)
	Type       string
	Priority   int
	Data       []byte // the event's JSON object, as the box sent it
	ReceivedAt time.Time
}

// Boxes is the box registry.
type Boxes interface {
	// CreateBox registers b; ErrExists if the id is taken.
	CreateBox(ctx context.Context, b Box) error
	// GetBox returns ErrNotFound for an unknown id.
	GetBox(ctx context.Context, id string) (Box, error)
	// ListBoxes returns every box ordered by id.
	ListBoxes(ctx context.Context) ([]Box, error)
	// UpdateBox reads box id, lets fn change it and writes it back in one
	// transaction. ID, SecretHash and CreatedAt are not changeable this way.
	// If fn returns an error nothing is written and the error is returned.
	UpdateBox(ctx context.Context, id string, fn func(*Box) error) error
}

// Desired is the last signed desired state of a box, kept so it can be
// republished after a restart or when the broker lost its retained copy.
type Desired struct {
	BoxID   string
	Rev     uint64
	Payload []byte // signed envelope as published
}

// DesiredStates keeps the signed desired state per box.
type DesiredStates interface {
	// PutDesired stores d if d.Rev is above the stored rev, and records the
	// rev in the box's DesiredRev; an older or equal rev returns ErrExists.
	PutDesired(ctx context.Context, d Desired) error
	// GetDesired returns ErrNotFound when none was stored.
	GetDesired(ctx context.Context, boxID string) (Desired, error)
}

// Events keeps what boxes upload.
type Events interface {
	// AppendEvents stores evs of box boxID by seq, ignoring seqs already
	// stored, then advances the box's watermark: first to at least floor-1
	// (the box says every seq below floor is settled), then over every
	// contiguous stored seq. It returns the new watermark, and returns only
	// after the write is durable. ErrNotFound for an unknown box.
	AppendEvents(ctx context.Context, boxID string, floor uint64, evs []Event) (watermark uint64, err error)
	// ListEvents returns up to limit events of boxID with seq > after, in
	// seq order.
	ListEvents(ctx context.Context, boxID string, after uint64, limit int) ([]Event, error)
	// CountEvents returns how many events of boxID are stored.
	CountEvents(ctx context.Context, boxID string) (uint64, error)
}

// EventFilter selects events for people reading the event log.
type EventFilter struct {
	// BoxID limits the search to one box; "" searches every box.
	BoxID string
	// Type matches the event type exactly; "" matches every type.
	Type string
	// From and To bound Event.Time (the box's clock): From <= Time < To.
	// A zero bound is open.
	From, To time.Time
	// Cursor continues a search where an earlier page of the same filter
	// ended (its next); "" starts with the newest events.
	Cursor string
	// Limit is the most events one page holds; at least 1.
	Limit int
}

// EventSearch finds events for the event log.
type EventSearch interface {
	// SearchEvents returns a page of events matching f, newest first: each
	// box's events in descending seq (a box's seq order is its true order,
	// whatever its clock did), the boxes interleaved by the Time of each
	// one's next event, the latest first and equal times by box id. next
	// continues the search and is "" once nothing is left. A page may hold
	// fewer than f.Limit events, even none, while next is not "": a call
	// bounds the events it reads, so one search over a long history is
	// several calls. ErrNotFound for an unknown f.BoxID; ErrBadFilter for
	// a Limit below 1, From after To or a cursor not made for f.
	SearchEvents(ctx context.Context, f EventFilter) (evs []Event, next string, err error)
}

// Role of a console or API user.
type Role string

// Roles, from most to least powerful.
const (
	RoleAdmin    Role = "admin"
	RoleReviewer Role = "reviewer"
	RoleOperator Role = "operator"
	RoleViewer   Role = "viewer"
)

// User is a township account.
type User struct {
	Name         string
	PasswordHash []byte // bcrypt
	Role         Role
	CreatedAt    time.Time
	// Disabled accounts cannot sign in and their tokens are refused; the
	// account is kept so the audit trail's names stay meaningful.
	Disabled bool
}

// Session is a bearer token or console session; only the token's sha256 is
// stored, so a copy of the store does not hand out live tokens.
type Session struct {
	TokenHash []byte
	User      string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// Users keeps accounts and sessions.
type Users interface {
	CreateUser(ctx context.Context, u User) error // ErrExists
	GetUser(ctx context.Context, name string) (User, error)
	ListUsers(ctx context.Context) ([]User, error)
	// UpdateUser reads user name, lets fn change it and writes it back in
	// one transaction. When fn changed anything, every session of the user
	// is deleted in that transaction too: a session was granted to the
	// account as it was. Name and CreatedAt are not changeable this way.
	// ErrNotFound for an unknown name; if fn returns an error nothing is
	// written and the error is returned. fn must not call the store.
	// It returns the user as stored.
	UpdateUser(ctx context.Context, name string, fn func(*User) error) (User, error)
	PutSession(ctx context.Context, s Session) error
	GetSession(ctx context.Context, tokenHash []byte) (Session, error) // ErrNotFound
	DeleteSession(ctx context.Context, tokenHash []byte) error
}

// Plan is a box's broadcast plan as the township edits it: speakers, zones,
// schedules, quiet hours, time zone and chime. Broadcast.Media is left
// empty: it is compiled from the media index when the desired state is made.
type Plan struct {
	BoxID     string
	Broadcast protocol.Broadcast
	Cameras   protocol.Cameras // the box's cameras and viewer limits
	UpdatedAt time.Time
	UpdatedBy string // user name
}

// Plans keeps one broadcast plan per box.
type Plans interface {
	// GetPlan returns ErrNotFound when none was stored (callers treat that
	// as the empty plan).
	GetPlan(ctx context.Context, boxID string) (Plan, error)
	// UpdatePlan reads box boxID's plan (the empty plan, with BoxID set,
	// when none is stored), lets fn change it and writes it back in one
	// transaction. BoxID is not changeable this way. ErrNotFound for an
	// unknown box; if fn returns an error nothing is written and the error
	// is returned. fn must not call the store: it runs inside the write.
	UpdatePlan(ctx context.Context, boxID string, fn func(*Plan) error) error
}

// MediaInfo describes one uploaded audio clip, stored by its sha256.
type MediaInfo struct {
	SHA256     string // 64 lowercase hex digits
	Name       string
	Format     string // "wav" or "mp3"
	Size       int64  // bytes
	DurationMS int64
	UploadedBy string
	UploadedAt time.Time
}

// MediaIndex lists the clips in the media directory. Clips are never
// removed, so a reference checked against the index stays good.
type MediaIndex interface {
	// PutMedia indexes m. A sha256 already indexed keeps its first record
	// and is not an error: the same bytes uploaded twice are one clip.
	PutMedia(ctx context.Context, m MediaInfo) error
	// GetMedia returns ErrNotFound for a sha256 not indexed.
	GetMedia(ctx context.Context, sha string) (MediaInfo, error)
	// ListMedia returns every clip, newest upload first (ties by sha256).
	ListMedia(ctx context.Context) ([]MediaInfo, error)
}

// Store is everything the township service keeps.
type Store interface {
	Boxes
	DesiredStates
	Events
	EventSearch
	Users
	Plans
	MediaIndex
	Lists
	// Ping checks that the store can take a write now: it fails when the
	// disk is full (ErrFull) or read-only, or the store is closed or
	// unreachable.
	// It is cheap enough for a health check every few seconds, and
	// changes nothing any other method returns.
	Ping(ctx context.Context) error
	Close() error
}
