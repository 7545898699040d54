// Package storecopy moves a township's whole store into another: it walks
// every kind of record of the source through the store interfaces, in a
// fixed order, loads them into an empty target that takes records as they
// are (ids, seqs and incarnations kept), and then walks both and compares
// each kind's count and hash.
//
// What the interfaces cannot list comes from capabilities: each box's
// epochs (EpochLister). Sessions are not copied: only their token hashes
// are kept, nothing lists them, and officials sign in again.
//
// It knows no storage technology; the caller opens both stores.
package storecopy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"time"

	"github.com/dalaba/dalaba/cloud/store"
)

// Epoch is what a store keeps of one epoch a box has sent.
type Epoch struct {
	BoxID       string
	Epoch       string
	Incarnation uint32
	Watermark   uint64
	Diverged    bool
}

// Categories are a village's categories, in their order.
type Categories struct {
	Village string
	List    []store.Category
}

// Chats are a village's chats, in their order.
type Chats struct {
	Village string
	List    []store.Chat
}

// Image is a picture posted with deliveries.
type Image struct {
	ID    string
	At    time.Time
	Bytes []byte
}

// EpochLister lists every box's epochs, by box and epoch.
type EpochLister interface {
	ListEpochs(ctx context.Context) ([]Epoch, error)
}

// Source is a store that can be copied whole.
type Source interface {
	store.Store
	EpochLister
}

// Target is an empty store being filled.
type Target interface {
	Source
	// Empty reports whether the store holds nothing at all.
	Empty(ctx context.Context) (bool, error)
	// Load stores records as they are, in one transaction: store.Box,
	// store.Desired, Epoch, store.Event, store.User, store.Plan,
	// store.MediaInfo, store.Household, store.Person, Categories,
	// store.Entry, store.AuditRecord, store.Hold, store.Goods,
	// store.Redemption, store.Link, Chats, store.Delivery, Image,
	// store.AlertSettings, store.Incident, store.Alert, store.Claim,
	// store.Release, store.Rollout, store.Township.
	Load(ctx context.Context, records []any) error
	// Seal ends a load: the store numbers new records after the loaded
	// ones and counts what it holds.
	Seal(ctx context.Context) error
}

// ErrNotEmpty: the target already holds records.
var ErrNotEmpty = errors.New("storecopy: the target store is not empty")

// Kinds in the order they are walked, loaded and checked.
var Kinds = []string{"boxes", "desired", "epochs", "events", "users", "townships", "plans", "media", "households", "persons",
	"categories", "entries", "audit", "holds", "goods", "redemptions", "links", "chats", "deliveries", "images",
	"alert_settings", "incidents", "alerts", "claims", "releases", "rollouts"}

// page is how many records one read and one load take.
const page = 1000

// Walk calls fn with every record of s, kind by kind in Kinds order, each
// kind in its interface's order.
func Walk(ctx context.Context, s Source, fn func(kind string, rec any) error) error {
	each := func(kind string, recs ...any) error {
		for _, r := range recs {
			if err := fn(kind, r); err != nil {
				return err
			}
		}
		return nil
	}
	boxes, err := s.ListBoxes(ctx)
	if err != nil {
		return err
	}
	if err := each("boxes", anys(boxes)...); err != nil {
		return err
	}
	for _, b := range boxes {
		d, err := s.GetDesired(ctx, b.ID)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if err := fn("desired", d); err != nil {
			return err
		}
	}
	epochs, err := s.ListEpochs(ctx)
	if err != nil {
		return err
	}
	if err := each("epochs", anys(epochs)...); err != nil {
		return err
	}
	for _, b := range boxes {
		for after := uint64(0); ; {
			evs, err := s.ListEvents(ctx, b.ID, after, page)
			if err != nil {
				return err
			}
			if err := each("events", anys(evs)...); err != nil {
				return err
			}
			if len(evs) < page {
				break
			}
			after = evs[len(evs)-1].Position()
		}
	}
	users, err := s.ListUsers(ctx)
	if err != nil {
		return err
	}
	if err := each("users", anys(users)...); err != nil {
		return err
	}
	townships, err := s.ListTownships(ctx)
	if err != nil {
		return err
	}
	if err := each("townships", anys(townships)...); err != nil {
		return err
	}
	for _, b := range boxes {
		p, err := s.GetPlan(ctx, b.ID)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if err := fn("plans", p); err != nil {
			return err
		}
	}
	media, err := s.ListMedia(ctx)
	if err != nil {
		return err
	}
	if err := each("media", anys(media)...); err != nil {
		return err
	}
	var households []store.Household
	for _, b := range boxes {
		hs, err := s.ListHouseholds(ctx, b.ID)
		if err != nil {
			return err
		}
		households = append(households, hs...)
	}
	if err := each("households", anys(households)...); err != nil {
		return err
	}
	for _, b := range boxes {
		ps, err := s.ListPersons(ctx, b.ID)
		if err != nil {
			return err
		}
		if err := each("persons", anys(ps)...); err != nil {
			return err
		}
	}
	for _, b := range boxes {
		cats, err := s.GetCategories(ctx, b.ID)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if err := fn("categories", Categories{Village: b.ID, List: cats}); err != nil {
			return err
		}
	}
	entries, err := s.ListEntries(ctx, store.EntryFilter{})
	if err != nil {
		return err
	}
	if err := each("entries", anys(entries)...); err != nil {
		return err
	}
	for after := uint64(0); ; {
		recs, err := s.ListAudit(ctx, store.AuditFilter{After: after, Limit: page})
		if err != nil {
			return err
		}
		if err := each("audit", anys(recs)...); err != nil {
			return err
		}
		if len(recs) < page {
			break
		}
		after = recs[len(recs)-1].Seq
	}
	holds, err := s.ListHolds(ctx, store.HoldFilter{})
	if err != nil {
		return err
	}
	if err := each("holds", anys(holds)...); err != nil {
		return err
	}
	for _, b := range boxes {
		gs, err := s.ListGoods(ctx, b.ID)
		if err != nil {
			return err
		}
		if err := each("goods", anys(gs)...); err != nil {
			return err
		}
	}
	reds, err := s.ListRedemptions(ctx, store.RedemptionFilter{})
	if err != nil {
		return err
	}
	if err := each("redemptions", anys(reds)...); err != nil {
		return err
	}
	for _, h := range households {
		ls, err := s.ListLinks(ctx, h.Village, h.ID)
		if err != nil {
			return err
		}
		// Newest first, equal times in no order a store promises: by hash.
		slices.SortStableFunc(ls, func(a, b store.Link) int {
			if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
				return c
			}
			return slices.Compare(a.TokenHash, b.TokenHash)
		})
		if err := each("links", anys(ls)...); err != nil {
			return err
		}
	}
	for _, b := range boxes {
		cs, err := s.ListChats(ctx, b.ID)
		if err != nil {
			return err
		}
		if len(cs) > 0 {
			if err := fn("chats", Chats{Village: b.ID, List: cs}); err != nil {
				return err
			}
		}
	}
	ds, err := s.ListDeliveries(ctx, "", "", math.MaxInt)
	if err != nil {
		return err
	}
	slices.Reverse(ds) // oldest first, so a load numbers as the source did
	if err := each("deliveries", anys(ds)...); err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, d := range ds {
		if d.Image == "" || seen[d.Image] {
			continue
		}
		seen[d.Image] = true
		img, at, err := s.GetImage(ctx, d.Image)
		if errors.Is(err, store.ErrNotFound) {
			continue // retention deleted it
		}
		if err != nil {
			return err
		}
		if err := fn("images", Image{ID: d.Image, At: at, Bytes: img}); err != nil {
			return err
		}
	}
	settings, err := s.GetAlertSettings(ctx)
	if err != nil {
		return err
	}
	if err := fn("alert_settings", settings); err != nil {
		return err
	}
	incs, err := s.ListIncidents(ctx)
	if err != nil {
		return err
	}
	if err := each("incidents", anys(incs)...); err != nil {
		return err
	}
	var alerts []store.Alert
	for before := uint64(0); ; {
		as, err := s.ListAlerts(ctx, store.AlertFilter{Before: before, Limit: page})
		if err != nil {
			return err
		}
		alerts = append(alerts, as...)
		if len(as) < page {
			break
		}
		before = as[len(as)-1].Seq
	}
	slices.Reverse(alerts)
	if err := each("alerts", anys(alerts)...); err != nil {
		return err
	}
	claims, err := s.ListClaims(ctx)
	if err != nil {
		return err
	}
	if err := each("claims", anys(claims)...); err != nil {
		return err
	}
	releases, err := s.ListReleases(ctx)
	if err != nil {
		return err
	}
	if err := each("releases", anys(releases)...); err != nil {
		return err
	}
	rollouts, err := s.ListRollouts(ctx)
	if err != nil {
		return err
	}
	return each("rollouts", anys(rollouts)...)
}

func anys[T any](xs []T) []any {
	out := make([]any, len(xs))
	for i, x := range xs {
		out[i] = x
	}
	return out
}

// Copy loads every record of from into to, which must be empty
// (ErrNotEmpty), a page at a time, then seals it. It returns how many
// records of each kind it loaded.
func Copy(ctx context.Context, from Source, to Target) (map[string]int, error) {
	empty, err := to.Empty(ctx)
	if err != nil {
		return nil, fmt.Errorf("storecopy: %w", err)
	}
	if !empty {
		return nil, ErrNotEmpty
	}
	counts := map[string]int{}
	var batch []any
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := to.Load(ctx, batch)
		batch = batch[:0]
		return err
	}
	kind := ""
	err = Walk(ctx, from, func(k string, rec any) error {
		if k != kind || len(batch) == page {
			if err := flush(); err != nil {
				return fmt.Errorf("load %s: %w", kind, err)
			}
			kind = k
		}
		batch = append(batch, rec)
		counts[k]++
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err == nil {
		err = to.Seal(ctx)
	}
	if err != nil {
		return counts, fmt.Errorf("storecopy: %w", err)
	}
	return counts, nil
}

// Sum is one kind's count and the sha256 of its records in walk order.
type Sum struct {
	Count int
	Hash  string
}

// Sums walks s and sums each kind. Records are hashed as JSON with times
// in UTC to the microsecond, the finest every store keeps.
func Sums(ctx context.Context, s Source) (map[string]Sum, error) {
	hashes := map[string]hashState{}
	err := Walk(ctx, s, func(kind string, rec any) error {
		b, err := json.Marshal(canonical(rec))
		if err != nil {
			return fmt.Errorf("encode %s: %w", kind, err)
		}
		h, ok := hashes[kind]
		if !ok {
			h = hashState{h: sha256.New()}
		}
		h.h.Write(b)
		h.h.Write([]byte{'\n'})
		h.n++
		hashes[kind] = h
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("storecopy: sum: %w", err)
	}
	out := map[string]Sum{}
	for _, k := range Kinds {
		h, ok := hashes[k]
		if !ok {
			out[k] = Sum{Hash: hex.EncodeToString(sha256.New().Sum(nil))}
			continue
		}
		out[k] = Sum{Count: h.n, Hash: hex.EncodeToString(h.h.Sum(nil))}
	}
	return out, nil
}

type hashState struct {
	h interface {
		io.Writer
		Sum([]byte) []byte
	}
	n int
}

// Check compares each kind's sums of the two stores and writes one line
// per kind to w; it returns an error naming the kinds that differ.
func Check(ctx context.Context, from, to Source, w io.Writer) error {
	a, err := Sums(ctx, from)
	if err != nil {
		return err
	}
	b, err := Sums(ctx, to)
	if err != nil {
		return err
	}
	var bad []string
	for _, k := range Kinds {
		verdict := "ok"
		if a[k] != b[k] {
			verdict, bad = "DIFFERS", append(bad, k)
		}
		fmt.Fprintf(w, "%-15s %8d → %8d  sha256 %s… %s… %s\n", k, a[k].Count, b[k].Count, a[k].Hash[:12], b[k].Hash[:12], verdict)
	}
	if len(bad) > 0 {
		return fmt.Errorf("storecopy: check: the copy differs in %v", bad)
	}
	return nil
}
