package store

import (
	"context"
	"errors"
	"time"
)

// What the lists keep beyond entries: holds on entries (objections lodged
// during public notice and supervisors' flags), the village points shop,
// the villagers' own links, the group chats a list is posted to with the
// state of each delivery, and the retention of personal information.

// Refusals of the shop (wrapped), which cloud/lists explains to the clerk.
var (
	ErrOutOfStock      = errors.New("store: out of stock")
	ErrNotEnoughPoints = errors.New("store: not enough points")
	// ErrKeyReused: an idempotency key came again with another request.
	ErrKeyReused = errors.New("store: idempotency key used for another request")
)

// HoldKind says what put an entry on hold.
type HoldKind string

// Kinds of hold.
const (
	HoldObjection HoldKind = "objection" // 异议, lodged during public notice
	HoldFlag      HoldKind = "flag"      // a supervisor's request for re-examination
)

// HoldStatus is where a hold stands.
type HoldStatus string

// Statuses of a hold.
const (
	HoldOpen      HoldStatus = "open"
	HoldUpheld    HoldStatus = "upheld"    // the entry was withdrawn for it
	HoldDismissed HoldStatus = "dismissed" // the entry goes on
	HoldClosed    HoldStatus = "closed"    // the entry was withdrawn for another hold
)

// Hold is an objection to an entry or a supervisor's flag on it. While
// any hold of an entry is open the entry is on hold.
type Hold struct {
	ID      uint64 // assigned by the store, from 1
	Village string
	EntryID uint64
	Kind    HoldKind
	// Name and Contact are the objector's (an objection only).
	Name    string
	Contact string
	// Reason is the objection's reason or the supervisor's note.
	Reason string
	// By is the official who recorded it (a flag, or an objection made at
	// the office); "" for one lodged on the villager page.
	By string
	// Household is the household whose link lodged it; "" otherwise.
	Household  string
	Status     HoldStatus
	Resolution string // the reviewer's reason
	ResolvedBy string
	CreatedAt  time.Time
	ResolvedAt time.Time
	Anonymised time.Time // when retention removed Name, Contact and Reason
}

// HoldFilter selects holds; empty fields match all.
type HoldFilter struct {
	Village string
	EntryID uint64
	Status  HoldStatus
}

// Holds keeps the holds of entries.
type Holds interface {
	// ChangeHolds runs fn on entry id and its holds (ordered by id) in one
	// transaction: fn may change the entry and the holds, and append new
	// holds with ID 0, which the store numbers. The entry is written back
	// with Revision plus one, the holds fn changed or added with it, and
	// the records fn returns appended (Village and EntryID set by the
	// store). ErrNotFound for an unknown entry; nothing is written on any
	// error. fn must not call the store; changes to an entry's ID,
	// Village and CreatedAt, or a hold's ID, Village and EntryID, are
	// ignored.
	ChangeHolds(ctx context.Context, id uint64, fn func(e *Entry, holds *[]Hold) ([]AuditRecord, error)) (Entry, []Hold, error)
	// GetHold returns ErrNotFound for an unknown id.
	GetHold(ctx context.Context, id uint64) (Hold, error)
	// ListHolds returns the holds f selects, by id.
	ListHolds(ctx context.Context, f HoldFilter) ([]Hold, error)
}

// Goods is one item of a village's points shop (积分超市).
type Goods struct {
	Village   string
	ID        string
	Name      string
	Price     int // points per item, at least 1
	Stock     int // items left, never below 0
	OnSale    bool
	UpdatedAt time.Time
	UpdatedBy string
}

// RedemptionStatus is where a redemption stands.
type RedemptionStatus string

// Statuses of a redemption.
const (
	RedemptionDone      RedemptionStatus = "done"
	RedemptionCancelled RedemptionStatus = "cancelled"
)

// Redemption is a household spending points on goods.
type Redemption struct {
	ID        uint64 // assigned by the store, from 1; the receipt number
	Village   string
	Household string
	Goods     string
	GoodsName string
	Quantity  int
	Points    int // spent: price times quantity
	// Key is the clerk's idempotency key: the same key again returns this
	// redemption and changes nothing.
	Key          string
	By           string
	Status       RedemptionStatus
	CreatedAt    time.Time
	CancelledAt  time.Time
	CancelledBy  string
	CancelReason string
}

// RedemptionFilter selects redemptions; empty fields match all.
type RedemptionFilter struct {
	Village   string
	Household string
}

// Shop keeps the goods and the redemptions.
//
// A household's balance is, by definition, the points of the village's
// entries stored as published whose subject is the household or a person
// whose household it is, less the points of its redemptions that are not
// cancelled. cloud/lists shows the same sum as the household's ledger.
type Shop interface {
	// PutGoods creates g (create: ErrExists for a taken id) or replaces
	// it (ErrNotFound when absent), with a. ErrNotFound for an unknown
	// village.
	PutGoods(ctx context.Context, g Goods, create bool, a AuditRecord) error
	// GetGoods returns ErrNotFound for unknown goods.
	GetGoods(ctx context.Context, village, id string) (Goods, error)
	// ListGoods returns the village's goods by id.
	ListGoods(ctx context.Context, village string) ([]Goods, error)
	// Redeem checks, in one transaction, that the goods are on sale with
	// Quantity in stock and that the household's balance covers Points,
	// then lowers the stock, stores r under the next id and appends the
	// record audit builds from it and the balance after. A Key already
	// used in the village for the same household, goods and quantity
	// returns that redemption with replayed set and writes nothing; for
	// another request, ErrKeyReused. ErrOutOfStock, ErrNotEnoughPoints,
	// ErrNotFound (village, household or goods) change nothing.
	Redeem(ctx context.Context, r Redemption, audit func(r Redemption, balance int) AuditRecord) (out Redemption, replayed bool, err error)
	// CancelRedemption lets fn cancel redemption id (fn checks its state
	// and sets the Cancelled fields) and returns the stock, in one
	// transaction with fn's record. ErrNotFound for an unknown id.
	CancelRedemption(ctx context.Context, id uint64, fn func(*Redemption) (AuditRecord, error)) (Redemption, error)
	// GetRedemption returns ErrNotFound for an unknown id.
	GetRedemption(ctx context.Context, id uint64) (Redemption, error)
	// ListRedemptions returns the redemptions f selects, by id.
	ListRedemptions(ctx context.Context, f RedemptionFilter) ([]Redemption, error)
	// Balance is the household's balance as Redeem computes it.
	Balance(ctx context.Context, village, household string) (int, error)
}

// Link is a household's own link to the villager page: a random token of
// which only the sha256 is kept.
type Link struct {
	TokenHash []byte
	Village   string
	Household string
	CreatedAt time.Time
	CreatedBy string
	RevokedAt time.Time // zero while the link works
	RevokedBy string
}

// Links keeps the villagers' links.
type Links interface {
	// IssueLink stores l and revokes, in the same transaction, every
	// other link of its household (a reprinted slip replaces the old),
	// with a. ErrNotFound for an unknown village or household.
	IssueLink(ctx context.Context, l Link, a AuditRecord) error
	// GetLink returns ErrNotFound for a hash never issued.
	GetLink(ctx context.Context, tokenHash []byte) (Link, error)
	// RevokeLinks revokes every working link of the household with a and
	// returns how many.
	RevokeLinks(ctx context.Context, village, household, by string, at time.Time, a AuditRecord) (int, error)
	// ListLinks returns the household's links, newest first.
	ListLinks(ctx context.Context, village, household string) ([]Link, error)
}

// Chat is one group chat a village's lists are posted to: the channel as
// cloud/notify takes it (kind, URL, secret), kept opaque here.
type Chat struct {
	Village   string
	ID        string
	Kind      string
	URL       string
	Secret    string
	UpdatedAt time.Time
	UpdatedBy string
}

// DeliveryStatus is where a delivery stands.
type DeliveryStatus string

// Statuses of a delivery.
const (
	DeliveryPending   DeliveryStatus = "pending"
	DeliveryDelivered DeliveryStatus = "delivered"
	DeliveryFailed    DeliveryStatus = "failed" // given up: attempts used, or a failure no retry mends
)

// Delivery is one message to one chat.
type Delivery struct {
	ID        uint64 // assigned by the store, from 1
	Village   string
	Chat      string
	Event     string // "publish" or "revoke"
	Period    string
	Title     string
	Text      string
	Image     string // the picture's id in Images; "" for none
	Status    DeliveryStatus
	Attempts  int
	LastError string
	NextAt    time.Time // when a pending delivery is tried next
	CreatedAt time.Time
	DoneAt    time.Time
}

// Chats keeps the villages' group chats, what is posted to them and the
// pictures posted.
type Chats interface {
	// PutChats replaces the village's chats with a. ErrNotFound for an
	// unknown village.
	PutChats(ctx context.Context, village string, chats []Chat, a AuditRecord) error
	// ListChats returns the village's chats in the order put.
	ListChats(ctx context.Context, village string) ([]Chat, error)
	// AddDeliveries stores ds (numbered by the store) and the picture
	// they share (id and bytes, stored at the first's CreatedAt; none when
	// img is nil) in one transaction.
	AddDeliveries(ctx context.Context, ds []Delivery, imageID string, img []byte) ([]Delivery, error)
	// UpdateDelivery lets fn change delivery id in one transaction.
	UpdateDelivery(ctx context.Context, id uint64, fn func(*Delivery) error) (Delivery, error)
	// ListDeliveries returns the village's deliveries ("" = every
	// village's) with status ("" = any), newest first, at most limit.
	ListDeliveries(ctx context.Context, village string, status DeliveryStatus, limit int) ([]Delivery, error)
	// GetImage returns a stored picture; ErrNotFound when absent.
	GetImage(ctx context.Context, id string) ([]byte, time.Time, error)
	// DeleteImages deletes the pictures stored before cutoff and returns
	// how many.
	DeleteImages(ctx context.Context, cutoff time.Time) (int, error)
}

// Retention removes personal information the township no longer needs.
type Retention interface {
	// Anonymise, in one transaction, lets entry and hold rewrite every
	// entry and hold created before cutoff that is not yet anonymised
	// (they set Anonymised), clears the Before, After and Note of every
	// audit record about those entries and holds (Redacted), and appends
	// audit's record of how many changed. It returns those counts. The
	// audit records themselves stay: who did what, when. Nothing is
	// appended when nothing changed.
	Anonymise(ctx context.Context, cutoff time.Time, entry func(*Entry), hold func(*Hold), audit func(entries, holds int) AuditRecord) (entries, holds int, err error)
}

// Redacted is what an audit record's Before and After read once
// retention removed what they held.
const Redacted = `{"redacted":true}`

// Community is what the lists keep beyond Lists.
type Community interface {
	Holds
	Shop
	Links
	Chats
	Retention
}
