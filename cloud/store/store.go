// Package store defines what the township service keeps: the box registry,
// the events boxes upload, users and their sessions, each box's broadcast
// plan and the index of uploaded audio. Implementations live in
// subpackages (boltstore, the default, and pgstore) and must pass the
// storetest conformance suite. Nothing here mentions bbolt or SQL.
package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
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
	// Place is where the village lies (所属乡镇/片区), as the office
	// writes it; "" when not given. It is a plain label: the unit the box
	// belongs to is Township.
	Place string
	// Township is the id of the township (Township.ID) the box belongs to;
	// "" = directly under the county, seen only by county users.
	Township string
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

	// A box's event log is a run of incarnations numbered from 1, one per
	// epoch the box has had (see package protocol). Epoch and Incarnation
	// are the current one's; Epoch is "" until the box sends one.
	// AppendEvents alone changes them and Watermark.
	Epoch       string
	Incarnation uint32

	// Watermark is the highest seq of the current incarnation such that
	// every seq at or below it is stored or was settled by a batch floor.
	Watermark uint64

	// RetiredAt is when the box was taken out of service; zero while it
	// is in service. A retired box keeps its events, lists and plan for
	// the record, and has no credentials (SecretHash is empty), so no
	// client can sign in as it.
	RetiredAt time.Time

	// Health is the box's latest box.health event (the highest position
	// stored), kept by AppendEvents so that showing the fleet reads no
	// events; zero until the box sends one.
	Health Health
}

// Health is a box's latest box.health event as the box sent it.
type Health struct {
	Position uint64    // of the event in the box's log; 0: none yet
	Time     time.Time // on the box's clock
	Data     []byte    // the event's JSON object (protocol.Health)
}

// Retired reports whether the box was taken out of service.
func (b Box) Retired() bool { return !b.RetiredAt.IsZero() }

// Event is one stored box event.
type Event struct {
	BoxID       string
	Incarnation uint32    // of the box's event log, from 1
	Seq         uint64    // 0 only for the box.reset that begins an incarnation
	Time        time.Time // when the box recorded it (box clock); a box.reset's is the township's
	Type        string
	Priority    int
	Data        []byte // the event's JSON object, as the box sent it
	ReceivedAt  time.Time
}

// MaxIncarnation bounds a box's incarnations: the bits of a Position above
// the seq's.
const MaxIncarnation = 1 << 16

// Position orders a box's events, every incarnation's, in one uint64: the
// incarnation less one above the seq's 48 bits (protocol.MaxSeq), so the
// first incarnation's positions are its seqs and a log from before
// incarnations pages as it did. Incarnation 0 counts as 1.
func Position(incarnation uint32, seq uint64) uint64 {
	return uint64(max(incarnation, 1)-1)<<seqBits | seq&protocol.MaxSeq
}

const seqBits = 48

// SplitPosition is the inverse of Position.
func SplitPosition(p uint64) (incarnation uint32, seq uint64) {
	return uint32(p>>seqBits) + 1, p & protocol.MaxSeq
}

// Position is e's place in its box's log.
func (e Event) Position() uint64 { return Position(e.Incarnation, e.Seq) }

// Batch is one upload of a box's events.
type Batch struct {
	Epoch      string    // the box's epoch; "" for a box from before epochs
	Floor      uint64    // every seq below it is settled; 0 settles nothing
	Events     []Event   // their BoxID and Incarnation are ignored
	ReceivedAt time.Time // the time of a box.reset the batch begins
}

// BoxBatch is one box's batch for AppendMany.
type BoxBatch struct {
	BoxID string
	Batch Batch
}

// AppendResult is what AppendMany made of one BoxBatch: what
// AppendEvents would have returned.
type AppendResult struct {
	Appended Appended
	Err      error
}

// Appended is what AppendEvents made of a batch.
type Appended struct {
	Incarnation uint32 // the incarnation the batch went to
	Watermark   uint64 // its watermark after the batch
	// From and Ack are what the box may delete on this batch's word: the
	// store holds every event of the batch from From (its lowest seq, or
	// its floor when it has none) through Ack. Ack is at most the batch's
	// last seq (floor-1 without events), so an ack vouches only for
	// events this very batch showed the township.
	From, Ack uint64
	// Diverged: the incarnation holds other events than the batch's under
	// its epoch; nothing of the batch was stored, and Ack ends the run of
	// its events, from its lowest, that the incarnation holds as sent
	// (From-1 if none).
	Diverged bool
	// Reset is set when the batch began a new incarnation, whose first
	// event (seq 0) is the box.reset recording it.
	Reset *protocol.Reset
}

// ResetEvent is the box.reset event that begins incarnation r.Incarnation,
// recorded at the township's time at. Every implementation records this
// very event.
func ResetEvent(boxID string, r protocol.Reset, at time.Time) Event {
	data, err := json.Marshal(r)
	if err != nil { // strings and numbers only
		panic(fmt.Sprintf("store: encode reset: %v", err))
	}
	return Event{BoxID: boxID, Incarnation: r.Incarnation, Seq: 0, Time: at, Type: protocol.EventBoxReset,
		Priority: int(protocol.PriorityCritical), Data: data, ReceivedAt: at}
}

// SameEvent reports whether stored and sent are one event: the same type,
// priority and data, and the same time to the microsecond (the finest
// every store keeps).
func SameEvent(stored, sent Event) bool {
	return stored.Type == sent.Type && stored.Priority == sent.Priority && bytes.Equal(stored.Data, sent.Data) &&
		stored.Time.Truncate(time.Microsecond).Equal(sent.Time.Truncate(time.Microsecond))
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
	// transaction. ID, SecretHash, CreatedAt and RetiredAt are not
	// changeable this way, nor Epoch, Incarnation, Watermark and Health,
	// which are AppendEvents's. If fn returns an error nothing is written
	// and the error is returned.
	UpdateBox(ctx context.Context, id string, fn func(*Box) error) error
	// UpdateBoxes is UpdateBox for many boxes in one transaction, for
	// state written in bulk (presence, reported state): each box's fn runs
	// as UpdateBox's would. Unknown ids are skipped and returned in
	// missing. If any fn returns an error nothing is written and the
	// error is returned.
	UpdateBoxes(ctx context.Context, fns map[string]func(*Box) error) (missing []string, err error)
	// UpdateBoxCredentials is UpdateBox for the fleet's changes of a box's
	// standing: fn may also change SecretHash (a new secret, or none) and
	// RetiredAt, together with the rest in one transaction.
	UpdateBoxCredentials(ctx context.Context, id string, fn func(*Box) error) error
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
	// AppendEvents stores batch b of box boxID in one durable write and
	// returns what it made of it; it returns only after the write is
	// durable. ErrNotFound for an unknown box. Seqs are 1 to
	// protocol.MaxSeq.
	//
	// The batch goes to an incarnation: with no epoch, or the current
	// incarnation's, to the current one; with an older incarnation's, to
	// that one (a late batch); with a new epoch while the current
	// incarnation has none, to the current one, which takes the epoch (a
	// box updated to epochs); with any other new epoch, to a new
	// incarnation (the current one's number plus one, at most
	// MaxIncarnation), which begins with ResetEvent at seq 0, reason
	// protocol.ResetNewEpoch, or ResetDiverged when the current one had
	// diverged.
	//
	// An event conflicts with the incarnation if the incarnation holds
	// another event (SameEvent) at its seq, or never stored its seq though
	// it is at or below the watermark, or is not stored at all once the
	// incarnation has diverged. A conflict under the incarnation's own
	// epoch means the epoch has diverged: nothing of the batch is stored,
	// nothing new ever will be under that epoch, and the result says
	// Diverged. A conflict of a batch without an epoch, or of one whose
	// epoch was about to be taken, begins a new incarnation instead,
	// reason protocol.ResetSeqsReused.
	//
	// Otherwise the events are stored by seq, seqs already stored are
	// ignored, and the incarnation's watermark advances: first to at least
	// floor-1 (the box says every seq below floor is settled), then over
	// every contiguous stored seq.
	//
	// The box's latest box.health event (protocol.EventHealth) among those
	// stored, by position, is kept as Box.Health in the same write.
	AppendEvents(ctx context.Context, boxID string, b Batch) (Appended, error)
	// AppendMany stores several batches, each exactly as AppendEvents
	// would and in their order, in one durable write (group commit), and
	// returns what became of each, in order. A batch refused on its own (an
	// unknown box: ErrNotFound; a bad seq) has its error in its result and
	// changes nothing; the others are stored. err is set only when the
	// write as a whole failed, and then nothing was stored.
	AppendMany(ctx context.Context, bs []BoxBatch) ([]AppendResult, error)
	// ListEvents returns up to limit events of boxID with Position above
	// after, in position order: every incarnation's, oldest first.
	ListEvents(ctx context.Context, boxID string, after uint64, limit int) ([]Event, error)
	// CountEvents returns how many events of boxID are stored, every
	// incarnation's and their box.reset events.
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
	// box's events in descending Position (a box's order of incarnations
	// and seqs is its true order, whatever its clock did), the boxes interleaved by the Time of each
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
	// RoleSupervisor is the supervision team (监督队): it sees the lists,
	// their audit trail and the objections, and flags entries for
	// re-examination; it changes nothing else.
	RoleSupervisor Role = "supervisor"
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
	// Township is the unit the user works in: "" = the county (every
	// village), else a Township.ID (that township's villages only).
	Township string
}

// Township is a unit under the county the deployment serves: its villages
// (Box.Township) are seen and run by its own officials (User.Township)
// and by the county's.
type Township struct {
	ID        string // "t-dongshan"; never changes
	Name      string // 东山镇
	CreatedAt time.Time
}

// Townships keeps the county's townships. They are never deleted: boxes,
// users and the audit trail keep naming them.
type Townships interface {
	// CreateTownship adds t; ErrExists if the id is taken.
	CreateTownship(ctx context.Context, t Township) error
	// GetTownship returns ErrNotFound for an unknown id.
	GetTownship(ctx context.Context, id string) (Township, error)
	// ListTownships returns every township ordered by id.
	ListTownships(ctx context.Context) ([]Township, error)
	// RenameTownship sets township id's name and returns it as stored;
	// ErrNotFound for an unknown id.
	RenameTownship(ctx context.Context, id, name string) (Township, error)
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
	Townships
	Plans
	MediaIndex
	Lists
	Community
	Alerts
	Claims
	Updates
	Overviews
	Batches
	// Ping checks that the store can take a write now: it fails when the
	// disk is full (ErrFull) or read-only, or the store is closed or
	// unreachable.
	// It is cheap enough for a health check every few seconds, and
	// changes nothing any other method returns.
	Ping(ctx context.Context) error
	Close() error
}

// Overview is a box with what an overview of the whole fleet shows of it:
// its plan and its latest events.
type Overview struct {
	Box Box
	// Plan holds the plan's speakers and cameras with their ids and names
	// only: what an overview shows, without decoding all of every plan.
	// The empty plan, BoxID set, when none is stored.
	Plan Plan
	// Recent are the box's latest events of the asked types, oldest
	// first: of those ListEvents(Box.ID, after, 2*window) returns, where
	// after is Position(Box.Incarnation, Box.Watermark-window), or the
	// incarnation's start when its watermark is below window.
	Recent []Event
}

// Overviews reads the whole fleet at once, for the dashboard and the
// paged box list, which would otherwise read each box's plan and events
// on their own: two reads per box, thousands of boxes.
type Overviews interface {
	// ListOverviews returns every box ordered by id with its plan and
	// its latest events of types (nil: every type), all read at one
	// moment. window is at least 1.
	ListOverviews(ctx context.Context, window int, types []string) ([]Overview, error)
}

// Batches change many boxes' plans or desired states in one durable
// write, for a change pushed to a whole township: thousands of boxes,
// one fsync per batch instead of two per box.
type Batches interface {
	// UpdatePlans is UpdatePlan for each of ids in one transaction: fn
	// runs once per box, and a box whose fn fails, or that is unknown
	// (ErrNotFound), is left as it was, its error at its index of errs;
	// the others are written together. err is for the write itself, and
	// then nothing was written. fn must not call the store.
	UpdatePlans(ctx context.Context, ids []string, fn func(*Plan) error) (errs []error, err error)
	// PutDesiredBatch is PutDesired for each of ds in one transaction,
	// each one's refusal (ErrExists, ErrNotFound) at its index of errs.
	PutDesiredBatch(ctx context.Context, ds []Desired) (errs []error, err error)
}

// Check refuses a batch whose floor or seqs lie outside protocol's range;
// both stores run it before they write.
func (b Batch) Check() error {
	if b.Floor > protocol.MaxSeq+1 {
		return fmt.Errorf("floor %d above %d", b.Floor, uint64(protocol.MaxSeq+1))
	}
	for _, e := range b.Events {
		if e.Seq == 0 || e.Seq > protocol.MaxSeq {
			return fmt.Errorf("seq %d: seqs are 1-%d", e.Seq, uint64(protocol.MaxSeq))
		}
	}
	return nil
}

// Span is the batch's lowest seq (its floor without events) and its top:
// its highest seq, or floor-1 without events.
func (b Batch) Span() (from, top uint64) {
	if len(b.Events) == 0 {
		return b.Floor, max(b.Floor, 1) - 1
	}
	from = b.Events[0].Seq
	for _, e := range b.Events {
		from, top = min(from, e.Seq), max(top, e.Seq)
	}
	return from, top
}
