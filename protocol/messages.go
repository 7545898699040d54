package protocol

import (
	"encoding/json"
	"time"
)

// Version is the schema version this package writes and reads.
const Version = 1

// Desired is the whole state the township wants a box to have. It travels
// signed (see SignDesired); Rev only grows, and a box never applies a Rev at
// or below the one it has.
type Desired struct {
	V         int       `json:"v"`
	BoxID     string    `json:"box_id"`
	Rev       uint64    `json:"rev"`
	IssuedAt  time.Time `json:"issued_at"`
	ExpiresAt time.Time `json:"expires_at"`
	// Spec is what the box should run: speakers, zones, cameras, schedules,
	// announcements. Its parts are added by later schema versions of the
	// features that use them; v1 keeps them opaque to the spine.
	Spec json.RawMessage `json:"spec,omitempty"`
}

// Command is an immediate instruction to a box (play now, stop, a WebRTC
// offer). It travels signed; a box runs each ID at most once and never after
// ExpiresAt.
type Command struct {
	V         int             `json:"v"`
	ID        string          `json:"id"`
	BoxID     string          `json:"box_id"`
	Type      string          `json:"type"`
	IssuedAt  time.Time       `json:"issued_at"`
	ExpiresAt time.Time       `json:"expires_at"`
	Args      json.RawMessage `json:"args,omitempty"`
}

// MaxCommandLifetime bounds ExpiresAt-IssuedAt, so the set of command ids a
// box must remember to refuse replays stays small.
const MaxCommandLifetime = 15 * time.Minute

// CommandResult answers a Command. A result that is not OK says why in
// Error, for a person, and in Code, for a program.
type CommandResult struct {
	V     int             `json:"v"`
	ID    string          `json:"id"`
	BoxID string          `json:"box_id"`
	OK    bool            `json:"ok"`
	Code  string          `json:"code,omitempty"` // one of the Code* constants; empty when OK
	Error string          `json:"error,omitempty"`
	Data  json.RawMessage `json:"data,omitempty"`
}

// Codes of a CommandResult that is not OK. A receiver treats a code it does
// not know as CodeFailed: later versions of v1 may add codes.
const (
	// CodeExpired: the command's lifetime (ExpiresAt, on the box's clock)
	// ended before the box carried it out, on arrival, while it waited or
	// while it ran; nothing was done.
	CodeExpired = "expired"
	// CodeUnknownCommand: the box has no handler for the command's type.
	CodeUnknownCommand = "unknown_command"
	// CodeInvalidArgs: the arguments do not decode or are not valid for
	// the type; nothing was done.
	CodeInvalidArgs = "invalid_args"
	// CodeBusy: the box is running as many slow commands as it allows;
	// nothing was done, and the same command may be sent again later.
	CodeBusy = "busy"
	// CodeFailed: the handler ran and failed (Error says why), or the box
	// could not run it.
	CodeFailed = "failed"
)

// MaxResultCodeLen bounds CommandResult.Code.
const MaxResultCodeLen = 32

// Priority orders events for the outbox's disk cap: when full, the box drops
// the oldest events of the lowest priority first.
type Priority int

// Event priorities.
const (
	PriorityDebug    Priority = 0 // diagnostics; first to go
	PriorityInfo     Priority = 1 // routine: health, online/offline
	PriorityNotice   Priority = 2 // play log, camera viewing, applied state
	PriorityCritical Priority = 3 // rejections, drops, faults; last to go
)

// Event is one outbox entry. Seq is unique within the box's epoch (see
// EventBatch), grows by one per append and is at most MaxSeq; Data is the
// type's own JSON object.
type Event struct {
	Seq      uint64          `json:"seq"`
	Time     time.Time       `json:"time"`
	Type     string          `json:"type"`
	Priority Priority        `json:"prio"`
	Data     json.RawMessage `json:"data,omitempty"`
}

// MaxBatchEvents bounds the events in one batch.
const MaxBatchEvents = 2000

// MaxSeq bounds event seqs (and a floor is at most MaxSeq+1). At a thousand
// events a second a box takes nearly nine thousand years to reach it; the
// township keeps the bits above it to number a box's incarnations.
const MaxSeq = 1<<48 - 1

// EpochLen is the length of an epoch: 128 random bits in lowercase hex.
const EpochLen = 32

// EventBatch carries outbox events to the cloud, in seq order.
//
// Floor is the lowest seq still in the box's outbox when the batch was sent:
// every seq below it was either acknowledged already or dropped under the
// disk cap (and the drop recorded in an event), so the cloud may count it as
// settled when it computes the contiguous watermark.
//
// Epoch names the box's sequence space: random, made with the box's data
// directory, and kept across restarts and software updates. A box that
// comes back with an empty data directory has a new epoch, so its seqs,
// which start again at 1, are never taken for ones the township already
// stored. "" is a box from before epochs.
type EventBatch struct {
	V      int     `json:"v"`
	BoxID  string  `json:"box_id"`
	Epoch  string  `json:"epoch,omitempty"`
	Floor  uint64  `json:"floor"`
	Events []Event `json:"events"`
}

// EventsAck answers one EventBatch. The box deletes through Seq and nothing
// more.
//
// To a batch without an epoch the ack carries only Seq: the highest seq
// below which every event is stored (or settled by Floor), and at most the
// batch's last seq.
//
// To a batch with an epoch it also names that Epoch and From, the batch's
// lowest seq (its floor when it had no events). It vouches for [From, Seq]
// only: every event of the batch in that range is stored. A box applies it
// only while Epoch is its epoch and From is at or below the lowest seq it
// still holds, so everything it deletes was in the batch.
//
// Diverged says the township holds other events under this epoch than the
// box sent (the box's data directory is an older copy, restored from a
// backup, or another box has its id): it stores nothing more under the
// epoch, Seq ends the batch's events it holds identically, and the box
// must carry what it still holds over to a new epoch.
type EventsAck struct {
	V        int    `json:"v"`
	BoxID    string `json:"box_id"`
	Epoch    string `json:"epoch,omitempty"`
	From     uint64 `json:"from,omitempty"`
	Seq      uint64 `json:"seq"`
	Diverged bool   `json:"diverged,omitempty"`
}

// Status is the box's presence, published retained on connect and as the
// will on an unclean disconnect.
type Status struct {
	V      int       `json:"v"`
	BoxID  string    `json:"box_id"`
	Online bool      `json:"online"`
	At     time.Time `json:"at,omitzero"`
}

// Reported is the box's summary: what it applied and how it is doing.
type Reported struct {
	V             int       `json:"v"`
	BoxID         string    `json:"box_id"`
	AppliedRev    uint64    `json:"applied_rev"`
	OutboxBacklog uint64    `json:"outbox_backlog"`
	At            time.Time `json:"at"`
	Version       string    `json:"version,omitempty"`
	Health        *Health   `json:"health,omitempty"`
	// Update is the box's software slot (update.go); boxes without slots
	// leave it out.
	Update *UpdateStatus `json:"update,omitempty"`
}

// Health is the box's vital signs, also the data of an EventHealth event.
type Health struct {
	DiskFreeBytes  uint64    `json:"disk_free_bytes"`
	DiskTotalBytes uint64    `json:"disk_total_bytes"`
	OutboxBacklog  uint64    `json:"outbox_backlog"`
	OutboxBytes    uint64    `json:"outbox_bytes"`
	ClockTrusted   bool      `json:"clock_trusted"`
	Clock          time.Time `json:"clock"`
	UptimeSeconds  int64     `json:"uptime_s"`
}

// Event types recorded by the spine.
const (
	EventBoxStarted      = "box.started"      // data: {"version"}
	EventHealth          = "box.health"       // data: Health
	EventOutboxDropped   = "outbox.dropped"   // data: Dropped
	EventDesiredApplied  = "desired.applied"  // data: {"rev"}
	EventDesiredRejected = "desired.rejected" // data: Rejected
	EventCmdRejected     = "cmd.rejected"     // data: Rejected
	EventMessageRejected = "message.rejected" // data: Rejected

	// EventBoxReset is recorded by the township, never by a box, as the
	// first event of a box's new incarnation (see Reset).
	EventBoxReset = "box.reset" // data: Reset
)

// Reset is the data of an EventBoxReset event: the township began a new
// incarnation of a box's event log, because the box's events no longer
// continue the old one. The old incarnation's events are all kept.
type Reset struct {
	Reason         string `json:"reason"` // one of the Reset* reasons
	OldEpoch       string `json:"old_epoch,omitempty"`
	NewEpoch       string `json:"new_epoch,omitempty"`
	OldIncarnation uint32 `json:"old_incarnation"`
	Incarnation    uint32 `json:"incarnation"`
	// OldWatermark is the old incarnation's watermark when the new one
	// began: every seq at or below it is stored or was settled.
	OldWatermark uint64 `json:"old_watermark"`
	// Floor is the first batch's floor in the new incarnation: 1 when the
	// box's data directory was new, higher when it carried events over.
	Floor uint64 `json:"floor"`
}

// Reasons of a Reset.
const (
	// ResetNewEpoch: the box came with an epoch the township had not
	// seen: its data directory is new (re-flashed, a new SD card).
	ResetNewEpoch = "new_epoch"
	// ResetDiverged: the box started a new epoch after the township found
	// that its events differ from those stored under the old one (its
	// data directory was restored from an older copy, or two boxes share
	// its id).
	ResetDiverged = "diverged"
	// ResetSeqsReused: a box without an epoch (or with its first) sent
	// seqs that already hold other events.
	ResetSeqsReused = "seqs_reused"
)

// Dropped is the data of an EventOutboxDropped event.
type Dropped struct {
	Count    uint64   `json:"count"`
	FirstSeq uint64   `json:"first_seq"`
	LastSeq  uint64   `json:"last_seq"`
	MaxPrio  Priority `json:"max_prio"`
	Reason   string   `json:"reason"`
}

// Rejected is the data of a *.rejected event.
type Rejected struct {
	Topic  string `json:"topic"`
	Reason string `json:"reason"`
	Rev    uint64 `json:"rev,omitempty"`
	ID     string `json:"id,omitempty"`
}
