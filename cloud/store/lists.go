package store

import (
	"context"
	"encoding/json"
	"time"
)

// ListKind is the list an entry is on: 红榜 or 黑榜.
type ListKind string

// The two lists.
const (
	KindRed   ListKind = "red"
	KindBlack ListKind = "black"
)

// EntryStatus is where an entry stands in the review workflow. The store
// only keeps it; cloud/lists owns the transitions.
type EntryStatus string

// Statuses of an entry.
const (
	StatusDraft     EntryStatus = "draft"
	StatusInReview  EntryStatus = "in_review"
	StatusApproved  EntryStatus = "approved"
	StatusPublished EntryStatus = "published"
	StatusRevoked   EntryStatus = "revoked"
	// Public notice (公示): an approved entry shown, not yet final, open
	// to objections until NoticeEnds.
	StatusNotice EntryStatus = "notice"
	// StatusOnHold: an objection or a supervisor's flag is open on it.
	StatusOnHold EntryStatus = "on_hold"
	// StatusWithdrawn: a reviewer upheld an objection or a flag.
	StatusWithdrawn EntryStatus = "withdrawn"
	// StatusExpired is never stored: cloud/lists shows a published entry
	// whose period has ended as expired when it is read.
	StatusExpired EntryStatus = "expired"
)

// SubjectKind says whether an entry is about a person or a household.
type SubjectKind string

// Subjects of an entry.
const (
	SubjectPerson    SubjectKind = "person"
	SubjectHousehold SubjectKind = "household"
)

// Household is one 户 of a village (a registered box: one box per village).
// Households are never deleted, so an entry's reference stays good.
type Household struct {
	Village   string
	ID        string
	Head      string // 户主, spoken as "<Head>户"
	CreatedAt time.Time
	CreatedBy string
}

// Person is one villager, a member of one household. Never deleted.
type Person struct {
	Village   string
	ID        string
	Name      string
	Household string // household id in the same village
	CreatedAt time.Time
	CreatedBy string
}

// Category is one item of a village's scoring rules with its default
// points: Red for a 红榜 entry (0..100), Black for a 黑榜 one (-100..0).
type Category struct {
	Name  string
	Red   int
	Black int
}

// Approval is one reviewer's approval of an entry.
type Approval struct {
	By string
	At time.Time
}

// Entry is one line of a village's red or black list for a period.
type Entry struct {
	ID          uint64 // assigned by CreateEntry, from 1
	Village     string
	Kind        ListKind
	SubjectKind SubjectKind
	SubjectID   string
	Category    string
	Reason      string
	Period      string // "YYYY-MM" or "YYYY-Qn"
	Points      int
	Evidence    string
	Author      string
	// Editors are every user who wrote or changed the entry's content,
	// the author first; none of them may approve it.
	Editors      []string
	Status       EntryStatus
	Approvals    []Approval
	RejectReason string // of the last rejection
	RevokeNote   string // the 整改 note of a revocation
	CreatedAt    time.Time
	UpdatedAt    time.Time
	SubmittedAt  time.Time
	PublishedAt  time.Time
	RevokedAt    time.Time
	// Revision is 1 when created and grows by one with every change; the
	// store sets it.
	Revision uint64

	// Public notice and holds (cloud/lists' notice.go).
	NoticeEnds     time.Time   // when the notice of an entry in it ends
	HeldFrom       EntryStatus // the status an entry on hold goes back to
	WithdrawReason string
	WithdrawnAt    time.Time
	Anonymised     time.Time // when retention removed its personal details
}

// EntryFilter selects entries; an empty field matches everything.
type EntryFilter struct {
	Village string
	Period  string
	Status  EntryStatus
	Kind    ListKind
}

// AuditRecord is one line of the lists' audit trail: who did what to
// which entry (or household, person, categories), with the state before
// and after as JSON.
type AuditRecord struct {
	Seq     uint64 // assigned by the store: 1, 2, 3, ... without gaps
	Time    time.Time
	Actor   string
	Action  string
	Village string
	EntryID uint64 // 0 when the record is not about an entry
	Target  string // what changed, e.g. "entry/12", "household/h01", "categories"
	Before  json.RawMessage
	After   json.RawMessage
	Note    string
}

// AuditFilter selects audit records: Village and EntryID match when set;
// records with seq > After, at most Limit of them, in seq order. With
// Last, the Limit newest of those instead of the oldest (still in seq
// order): the latest changes without knowing the top seq.
type AuditFilter struct {
	Village string
	EntryID uint64
	After   uint64
	Limit   int
	Last    bool
}

// Villagers keeps each village's households, persons and categories.
// Every change appends its audit record in the same transaction.
type Villagers interface {
	// CreateHousehold stores h and appends a (its Seq and Village are
	// set by the store). ErrNotFound for an unknown village box, ErrExists
	// for a taken id; nothing is written on error.
	CreateHousehold(ctx context.Context, h Household, a AuditRecord) error
	// GetHousehold returns ErrNotFound for an unknown household.
	GetHousehold(ctx context.Context, village, id string) (Household, error)
	// ListHouseholds returns the village's households ordered by id.
	ListHouseholds(ctx context.Context, village string) ([]Household, error)
	// CreatePerson stores p and appends a. ErrNotFound for an unknown
	// village or household, ErrExists for a taken id.
	CreatePerson(ctx context.Context, p Person, a AuditRecord) error
	// GetPerson returns ErrNotFound for an unknown person.
	GetPerson(ctx context.Context, village, id string) (Person, error)
	// ListPersons returns the village's persons ordered by id.
	ListPersons(ctx context.Context, village string) ([]Person, error)
	// GetCategories returns ErrNotFound when none were ever put (callers
	// use their defaults then).
	GetCategories(ctx context.Context, village string) ([]Category, error)
	// PutCategories replaces the village's categories (order kept) and
	// appends a. ErrNotFound for an unknown village.
	PutCategories(ctx context.Context, village string, cats []Category, a AuditRecord) error
}

// ListEntries keeps red and black list entries.
type ListEntries interface {
	// CreateEntry assigns e the next id and Revision 1, stores it and
	// appends the record audit builds from the stored entry, all in one
	// transaction; audit must not call the store. ErrNotFound for an
	// unknown village; nothing is written if audit fails.
	CreateEntry(ctx context.Context, e Entry, audit func(Entry) (AuditRecord, error)) (Entry, error)
	// GetEntry returns ErrNotFound for an unknown id.
	GetEntry(ctx context.Context, id uint64) (Entry, error)
	// ListEntries returns the entries f selects ordered by id. It reads
	// every entry: fine for a township's few thousand a year.
	ListEntries(ctx context.Context, f EntryFilter) ([]Entry, error)
	// UpdateEntries lets fn change each entry of ids in turn and returns
	// the audit record of that change; every entry and every record is
	// written in one transaction, or nothing is (fn's error, ErrNotFound
	// for an unknown id). fn's changes to ID, Village and CreatedAt are
	// ignored; the store sets Revision to the stored one plus one and the
	// record's Seq, Village and EntryID. fn must not call the store. The
	// entries are returned as stored.
	UpdateEntries(ctx context.Context, ids []uint64, fn func(*Entry) (AuditRecord, error)) ([]Entry, error)
}

// AuditTrail is append-only: there is no method to change or delete a
// record, and seqs are contiguous from 1.
type AuditTrail interface {
	// AppendAudit appends a record that goes with no stored change (an
	// announcement's outcome) and returns its seq.
	AppendAudit(ctx context.Context, a AuditRecord) (uint64, error)
	// ListAudit returns the records f selects in seq order. A Limit of
	// zero or less is an error.
	ListAudit(ctx context.Context, f AuditFilter) ([]AuditRecord, error)
}

// Lists is what cloud/lists keeps.
type Lists interface {
	Villagers
	ListEntries
	AuditTrail
}
