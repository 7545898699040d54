// Package lists is the red/black list (红黑榜) of each village: households
// and persons, the village's categories with their points (积分), entries
// and their review workflow, publication per month, revocation after
// rectification (整改), the append-only audit trail, and the announcement
// text rendered from a template.
//
// An entry moves draft → in_review → approved → published, or with public
// notice configured approved → notice (公示) → published when the notice
// ends (notice.go); an objection or a supervisor's flag puts it on_hold
// until reviewers uphold (withdrawn) or dismiss every hold. A rejection
// sends it back to draft with a reason, and so does any edit before
// publication (clearing its approvals: an approved entry cannot change
// without going back to review). A published entry is never edited; a
// published black entry can be revoked with a 整改 note. Approval takes
// Config.Approvals distinct reviewers, none of whom wrote or edited the
// entry. Every change and its audit record are written in one store
// transaction.
//
// Expiry is computed when an entry is read, not stored: a published entry
// whose period (a calendar month "YYYY-MM" or quarter "YYYY-Qn" in the
// township's zone, rounds.go) has ended is shown as expired. Nothing changes in the store when time passes, so expiry has
// no audit record; the announcement of a period covers that month only,
// and re-announcing an ended period withdraws it (empty text).
//
// Points: a household's ledger holds the published entries (expired ones
// too: expiry ends the broadcast, not the record) about the household or
// any of its members. A revoked black entry stays in the ledger, marked as
// not counted: after rectification its penalty no longer applies.
//
// The points shop spends a household's points (shop.go defines the
// ledger); households see their own data through a link (villager.go);
// publications are posted to the villages' group chats (chats.go); the
// public sees names masked and reasons shortened as Privacy says, and old
// entries and objections are anonymised (privacy.go).
//
// It knows the store through a small interface, announces through
// Announcer and posts through cloud/notify; it knows nothing of HTTP
// routes, MQTT or bbolt.
package lists
