// Package boltstore is the default store.Store: one bbolt file, enough for a
// township of tens of boxes on one machine.
//
// Layout (schema version 10, in bucket "meta" key "schema"; an older file
// gains the buckets added since when opened: version 2 the plans and media
// buckets, version 3 the lists' five, version 4 the epochs, its events
// becoming each box's first incarnation without moving, version 5 the
// holds, shop, links, chats, deliveries and images of community.go,
// version 6 the fields of boxes, households and persons below, its
// persons becoming active, version 7 the alerting's four, version 8 the
// claim codes' two, version 9 releases and rollouts, version 10 the
// townships and the township field of boxes, users and claims):
//
//	boxes/<box id>             JSON box record, with the event count and the
//	                           current incarnation: number, epoch, watermark;
//	                           its place, township and when it was retired
//	desired/<box id>           8-byte big-endian rev, then the signed payload
//	events/<box id>/<pos>      JSON event; pos is store.Position (incarnation
//	                           and seq) as 8 bytes big-endian, so keys sort
//	                           in log order and ListEvents, SearchEvents and
//	                           the watermark advance are cursor walks; seq 0
//	                           of an incarnation is its box.reset
//	epochs/<box id>/<epoch>    JSON: the epoch's incarnation, its watermark,
//	                           and whether it diverged
//	users/<name>               JSON user
//	sessions/<token sha256>    JSON session
//	plans/<box id>             JSON plan: the protocol's broadcast section
//	                           (its wire JSON), updated_at, updated_by
//	media/<sha256>             JSON media record
//	households/<box id>/<id>   JSON household of a village: head, group
//	persons/<box id>/<id>      JSON person of a village: name, household,
//	                           phone, last four ID digits, status
//	categories/<box id>        JSON array of the village's categories
//	entries/<id>               JSON red/black list entry; id as 8 bytes
//	                           big-endian from the bucket's sequence
//	audit/<seq>                JSON audit record; seq as 8 bytes big-endian
//	                           from the bucket's sequence, which rolls back
//	                           with its transaction, so seqs have no gaps.
//	                           Nothing deletes an audit key; only retention
//	                           (Anonymise) rewrites a value, emptying what
//	                           it held about a person
//	holds/, goods/, redemptions/, redeemkeys/, links/, chats/, deliveries/,
//	images/                    see community.go
//	alertconf/settings         JSON: the alert channels (their secrets too),
//	                           rules and quiet hours
//	incidents/<key>            JSON incident, held or open; deleted when it
//	                           clears, in the transaction of its alert
//	alerts/<seq>               JSON alert with its deliveries; seq as 8
//	                           bytes big-endian from the bucket's sequence
//	alertpending/<seq>         empty: the alert has a delivery pending or
//	                           held; kept in step by every write of the alert
//	claims/, claimkeys/        claim codes, see claims.go
//	releases/, rollouts/       software updates, see updates.go
//	townships/<id>             JSON township, see townships.go
//
// Every write is one bbolt transaction, which fsyncs before it returns: when
// AppendEvents returns, the events, the new watermark and a new
// incarnation's box.reset are on disk together, so an ack sent after it
// never covers what a crash could lose.
//
// The file is locked while open; a second dalaba-cloud on the same file gets
// ErrInUse. It knows nothing of MQTT or of the protocol's JSON.
package boltstore
