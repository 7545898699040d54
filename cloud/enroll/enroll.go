// Package enroll is zero-touch enrollment on the township's side: claim
// codes made for villages (one, or many from a sheet), listed, revoked, and
// used by a new box to fetch its identity and credentials (protocol/claim
// says how the code protects them). Every creation, use, refusal and
// revocation is in the audit trail.
//
// A claim is for one village: a box registered but never seen (its
// credentials are replaced when the claim is used) or a village with no
// box yet (the box is registered when the claim is used). Each claim's
// answer is sealed when the code is made, with an MQTT secret made then and
// known only inside it; the township keeps the secret's hash, the
// answer's ciphertext and the sha256 of the box's proof, never the code.
//
// It knows the store through cloud/store and the fleet through a small
// interface; it knows nothing of HTTP: cloud/web serves it.
package enroll

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"time"

	"rsc.io/qr"

	"github.com/dalaba/dalaba/cloud/fleet"
	"github.com/dalaba/dalaba/cloud/sheet"
	"github.com/dalaba/dalaba/cloud/store"
	"github.com/dalaba/dalaba/protocol"
	"github.com/dalaba/dalaba/protocol/claim"
)

// Errors a caller branches on; each has an API code in cloud/web.
var (
	// ErrInvalid: a request the service refuses as written (a village, a
	// sheet, a lifetime, a malformed enrollment); nothing was changed.
	ErrInvalid = errors.New("enroll: invalid")
	// ErrInService: the village's box has already been seen by the
	// township; it needs no claim code.
	ErrInService = errors.New("enroll: the box is already in service")
	// ErrOpen: the village already has an open claim.
	ErrOpen = errors.New("enroll: the village already has an open claim code")
	// ErrNotOpen: revoking a claim that was used, has expired or was
	// revoked.
	ErrNotOpen = errors.New("enroll: the claim code is no longer open")
	// ErrUnknown: no claim has this code.
	ErrUnknown = errors.New("enroll: unknown claim code")
	// ErrUsed, ErrExpired, ErrRevoked: the claim can no longer be used.
	ErrUsed    = errors.New("enroll: the claim code was already used")
	ErrExpired = errors.New("enroll: the claim code has expired")
	ErrRevoked = errors.New("enroll: the claim code was revoked")
	// ErrWrongVillage: the box named another village than the claim's.
	ErrWrongVillage = errors.New("enroll: the claim code is for another village")
	// ErrStale: the township's broker or media address or key changed
	// since the code was made; its answer would send the box astray.
	ErrStale = errors.New("enroll: the township's addresses changed since the claim code was made")
)

// Limits and defaults.
const (
	DefaultTTL = 7 * 24 * time.Hour
	MinTTL     = time.Hour
	MaxTTL     = 90 * 24 * time.Hour
	// MaxBatch bounds the villages of one request: a county's worth.
	MaxBatch = 2000
	// MaxSheet bounds an uploaded sheet, in bytes.
	MaxSheet = 1 << 20
)

// Store is what the service keeps and reads.
type Store interface {
	store.Claims
	GetBox(ctx context.Context, id string) (store.Box, error)
	AppendAudit(ctx context.Context, a store.AuditRecord) (uint64, error)
}

// Fleet is what the service needs of the box registry (*fleet.Fleet).
type Fleet interface {
	Addresses() fleet.Addresses
	ValidateBoxID(id string) error
	Enrolled(ctx context.Context, b store.Box, registered bool)
}

// Deps are what the service uses.
type Deps struct {
	Logger *slog.Logger
	Store  Store
	Fleet  Fleet
	Now    func() time.Time // nil = time.Now
	// TownshipURL is the service's HTTP base URL as boxes reach it: what
	// an installer gives dalaba-edge enroll --township.
	TownshipURL string
}

// Service runs claim codes.
type Service struct {
	log   *slog.Logger
	st    Store
	fl    Fleet
	now   func() time.Time
	limit *limiter
	url   string
}

// New validates deps; it starts nothing.
func New(deps Deps) (*Service, error) {
	if deps.Logger == nil || deps.Store == nil || deps.Fleet == nil {
		return nil, errors.New("enroll: new: Logger, Store and Fleet are required")
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	return &Service{log: deps.Logger.With("component", "enroll"), st: deps.Store, fl: deps.Fleet, now: deps.Now, limit: newLimiter(), url: deps.TownshipURL}, nil
}

// TownshipURL is what boxes enroll at (Deps.TownshipURL).
func (s *Service) TownshipURL() string { return s.url }

// Village is what a claim is made for: a box id, its village's name and
// place (taken from the box when it is registered already).
type Village struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Place string `json:"place,omitempty"`
	// Township is the unit the box will belong to, set by the caller
	// (never read from a request); a registered box keeps its own.
	Township string `json:"-"`
}

// Issued is a claim just made, with its code: the only time the code is
// known.
type Issued struct {
	ID        uint64    `json:"id"`
	Code      string    `json:"code"`
	Village   string    `json:"village"`
	Name      string    `json:"name"`
	Place     string    `json:"place,omitempty"`
	ExpiresAt time.Time `json:"expires_at"`
	// ClaimFile is the first boot's claim file for this code, and QR its
	// QR code, one string of 0 and 1 a row (1 dark), for the printout: an
	// installer's phone reads it, to be saved as dalaba-claim.txt.
	ClaimFile string   `json:"claim_file"`
	QR        []string `json:"qr"`
}

// claimFile is the text of a first boot's claim file.
func claimFile(township, code, village string) string {
	return fmt.Sprintf("township: %s\ncode: %s\nvillage: %s\n", township, code, village)
}

// qrRows is text's QR code as rows of 0 and 1 (1 dark), or nil when it
// cannot be made (far longer text than a claim file).
func qrRows(text string) []string {
	c, err := qr.Encode(text, qr.M)
	if err != nil {
		return nil
	}
	rows := make([]string, c.Size)
	for y := range c.Size {
		b := make([]byte, c.Size)
		for x := range c.Size {
			b[x] = '0'
			if c.Black(x, y) {
				b[x] = '1'
			}
		}
		rows[y] = string(b)
	}
	return rows
}

// View is a claim as officials see it (never its code).
type View struct {
	ID        uint64            `json:"id"`
	Village   string            `json:"village"`
	Name      string            `json:"name"`
	Place     string            `json:"place,omitempty"`
	Township  string            `json:"township,omitempty"`
	Status    store.ClaimStatus `json:"status"`
	CreatedAt time.Time         `json:"created_at"`
	CreatedBy string            `json:"created_by"`
	ExpiresAt time.Time         `json:"expires_at"`
	UsedAt    time.Time         `json:"used_at,omitzero"`
	UsedFrom  string            `json:"used_from,omitempty"`
	RevokedAt time.Time         `json:"revoked_at,omitzero"`
	RevokedBy string            `json:"revoked_by,omitempty"`
}

func (s *Service) view(c store.Claim) View {
	return View{ID: c.ID, Village: c.Village, Name: c.Name, Place: c.Place, Township: c.Township, Status: c.Status(s.now()), CreatedAt: c.CreatedAt,
		CreatedBy: c.CreatedBy, ExpiresAt: c.ExpiresAt, UsedAt: c.UsedAt, UsedFrom: c.UsedFrom, RevokedAt: c.RevokedAt, RevokedBy: c.RevokedBy}
}

// Create makes a claim code for each village, valid for ttl (0 =
// DefaultTTL), all or none, recorded as one change by by. Each village
// must be a valid box id not given twice, with no open claim; a registered
// box must be in service and never seen (ErrInService), and lends the
// claim its name and place; a village without a box needs a name.
func (s *Service) Create(ctx context.Context, by string, vs []Village, ttl time.Duration) ([]Issued, error) {
	if ttl == 0 {
		ttl = DefaultTTL
	}
	var errs []error
	if ttl < MinTTL || ttl > MaxTTL {
		errs = append(errs, fmt.Errorf("%w: ttl: from %s to %s", ErrInvalid, MinTTL, MaxTTL))
	}
	if len(vs) == 0 || len(vs) > MaxBatch {
		errs = append(errs, fmt.Errorf("%w: villages: from 1 to %d", ErrInvalid, MaxBatch))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	vs, err := s.checkVillages(ctx, vs)
	if err != nil {
		return nil, err
	}
	now := s.now()
	addrs := s.fl.Addresses()
	key := protocol.EncodePublicKey(addrs.Key)
	issued := make([]Issued, len(vs))
	cs := make([]store.Claim, len(vs))
	// Each code costs an Argon2id; the cores share them.
	var wg sync.WaitGroup
	work := make(chan int)
	failed := make([]error, len(vs))
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for i := range work {
				issued[i], cs[i], failed[i] = s.make(vs[i], addrs, key, by, now, ttl)
			}
		})
	}
	for i := range vs {
		work <- i
	}
	close(work)
	wg.Wait()
	if err := errors.Join(failed...); err != nil {
		return nil, fmt.Errorf("enroll: make claim codes: %w", err)
	}
	type made struct {
		Village   string    `json:"village"`
		Name      string    `json:"name"`
		ExpiresAt time.Time `json:"expires_at"`
	}
	after := make([]made, len(vs))
	for i, v := range vs {
		after[i] = made{v.ID, v.Name, now.Add(ttl)}
	}
	a := store.AuditRecord{Time: now, Actor: by, Action: "claim.create", Target: "claims", After: mustJSON(after),
		Note: fmt.Sprintf("%d claim codes made; the codes are not kept", len(vs))}
	if len(vs) == 1 {
		a.Village = vs[0].ID
	}
	stored, err := s.st.CreateClaims(ctx, cs, a)
	if errors.Is(err, store.ErrExists) {
		// Lookups of fresh 40-bit codes do not collide in practice; an
		// open claim of the village is what this is.
		return nil, fmt.Errorf("%w: %v", ErrOpen, err)
	}
	if err != nil {
		return nil, fmt.Errorf("enroll: store claim codes: %w", err)
	}
	for i := range issued {
		issued[i].ID = stored[i].ID
	}
	s.log.Info("claim codes made", "user", by, "claims", len(issued))
	return issued, nil
}

// make makes v's code, its answer sealed with the code's key, and its
// claim record.
func (s *Service) make(v Village, addrs fleet.Addresses, key, by string, now time.Time, ttl time.Duration) (Issued, store.Claim, error) {
	code, err := claim.NewCode(nil)
	if err != nil {
		return Issued{}, store.Claim{}, err
	}
	k := claim.Derive(code)
	secret := fleet.NewSecret()
	sealed, err := claim.Seal(k.Seal, claim.Answer{
		V: claim.Version, BoxID: v.ID, Name: v.Name, BrokerURL: addrs.BrokerURL, Username: v.ID, Password: secret,
		TownshipKey: key, MediaURL: addrs.MediaURL, IssuedAt: now,
	})
	if err != nil {
		return Issued{}, store.Claim{}, fmt.Errorf("village %s: %w", v.ID, err)
	}
	c := store.Claim{
		Lookup: claim.Lookup(k.Proof[:]), Village: v.ID, Name: v.Name, Place: v.Place, Township: v.Township, Sealed: sealed, SecretHash: fleet.SecretHash(secret),
		BrokerURL: addrs.BrokerURL, MediaURL: addrs.MediaURL, KeyID: key, CreatedAt: now, CreatedBy: by, ExpiresAt: now.Add(ttl),
	}
	file := claimFile(s.url, code, v.ID)
	return Issued{Code: code, Village: v.ID, Name: v.Name, Place: v.Place, ExpiresAt: c.ExpiresAt, ClaimFile: file, QR: qrRows(file)}, c, nil
}

// checkVillages validates vs, every problem at once, and returns them with
// registered boxes' names and places.
func (s *Service) checkVillages(ctx context.Context, vs []Village) ([]Village, error) {
	out := make([]Village, len(vs))
	var errs []error
	seen := map[string]bool{}
	for i, v := range vs {
		v.ID, v.Name, v.Place = strings.TrimSpace(v.ID), strings.TrimSpace(v.Name), strings.TrimSpace(v.Place)
		out[i] = v
		bad := func(err error) { errs = append(errs, fmt.Errorf("villages[%d] (%s): %w", i, v.ID, err)) }
		if err := s.fl.ValidateBoxID(v.ID); err != nil {
			bad(err)
			continue
		}
		if seen[v.ID] {
			bad(fmt.Errorf("%w: named twice", ErrInvalid))
			continue
		}
		seen[v.ID] = true
		b, err := s.st.GetBox(ctx, v.ID)
		switch {
		case errors.Is(err, store.ErrNotFound):
			if err := fleet.ValidateName(v.Name); err != nil {
				bad(err)
			}
			if err := fleet.ValidatePlace(v.Place); err != nil {
				bad(err)
			}
		case err != nil:
			return nil, fmt.Errorf("enroll: box %s: %w", v.ID, err)
		case b.Retired():
			bad(fleet.ErrRetired)
		case !b.LastSeen.IsZero():
			bad(ErrInService)
		default:
			out[i].Name, out[i].Place, out[i].Township = b.Name, b.Place, b.Township
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

// ParseSheet reads the villages of a CSV file (UTF-8 or GBK) or an .xlsx
// workbook: one village a row, id, name and optionally place; a first row
// whose first cell is a heading (id, box_id, 编号, 村编号) is skipped, and
// so are empty rows. Every bad row is reported, by its number.
func ParseSheet(r io.Reader) ([]Village, error) {
	rows, err := sheet.Read(r, MaxSheet)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	var out []Village
	var errs []error
	for i, row := range rows {
		for j := range row {
			row[j] = strings.TrimSpace(row[j])
		}
		for len(row) > 0 && row[len(row)-1] == "" {
			row = row[:len(row)-1]
		}
		if len(row) == 0 {
			continue
		}
		if i == 0 && isHeading(row[0]) {
			continue
		}
		switch {
		case len(row) < 2:
			errs = append(errs, fmt.Errorf("%w: row %d: want id,name[,place]", ErrInvalid, i+1))
		case len(row) > 3:
			errs = append(errs, fmt.Errorf("%w: row %d: %d columns, want id,name[,place]", ErrInvalid, i+1, len(row)))
		default:
			v := Village{ID: row[0], Name: row[1]}
			if len(row) == 3 {
				v.Place = row[2]
			}
			if err := protocol.ValidateBoxID(v.ID); err != nil {
				errs = append(errs, fmt.Errorf("%w: row %d: %v", ErrInvalid, i+1, err))
				continue
			}
			out = append(out, v)
		}
		if len(errs) > 20 {
			errs = append(errs, errors.New("more rows not checked"))
			break
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: the sheet names no village", ErrInvalid)
	}
	return out, nil
}

func isHeading(s string) bool {
	switch strings.ToLower(s) {
	case "id", "box_id", "box", "编号", "村编号", "广播盒编号":
		return true
	}
	return false
}

// List returns every claim, the newest first.
func (s *Service) List(ctx context.Context) ([]View, error) {
	cs, err := s.st.ListClaims(ctx)
	if err != nil {
		return nil, fmt.Errorf("enroll: list claim codes: %w", err)
	}
	out := make([]View, 0, len(cs))
	for i := len(cs) - 1; i >= 0; i-- {
		out = append(out, s.view(cs[i]))
	}
	return out, nil
}

// Revoke withdraws open claim id (ErrNotOpen otherwise), by by.
func (s *Service) Revoke(ctx context.Context, by string, id uint64) (View, error) {
	now := s.now()
	c, err := s.st.RevokeClaim(ctx, id, func(c *store.Claim) (store.AuditRecord, error) {
		if st := c.Status(now); st != store.ClaimOpen {
			return store.AuditRecord{}, fmt.Errorf("%w: it is %s", ErrNotOpen, st)
		}
		c.RevokedAt, c.RevokedBy = now, by
		return store.AuditRecord{Time: now, Actor: by, Action: "claim.revoke", Village: c.Village, Target: fmt.Sprintf("claim/%d", c.ID)}, nil
	})
	if err != nil {
		return View{}, fmt.Errorf("enroll: revoke claim %d: %w", id, err)
	}
	s.log.Info("claim code revoked", "user", by, "box_id", c.Village, "claim", id)
	return s.view(c), nil
}

// Enroll answers a box's enrollment request body from address addr: the
// sealed answer of the claim its proof finds, which is used by it. A
// refusal is one of the package's errors (fleet.ErrRetired for a retired
// box), recorded in the audit trail and counted against addr; too many
// from addr and it must wait (*SlowDownError).
func (s *Service) Enroll(ctx context.Context, addr string, body []byte) ([]byte, error) {
	if err := s.limit.check(addr, s.now()); err != nil {
		return nil, err
	}
	req, proof, err := claim.DecodeRequest(body)
	if err != nil {
		err = fmt.Errorf("%w: %w", ErrInvalid, err)
		s.refused(ctx, addr, store.Claim{}, err)
		return nil, err
	}
	now := s.now()
	addrs := s.fl.Addresses()
	key := protocol.EncodePublicKey(addrs.Key)
	var sealed []byte
	var seen store.Claim
	var wasRegistered bool
	c, b, err := s.st.UseClaim(ctx, claim.Lookup(proof), func(c *store.Claim, b *store.Box, registered bool) (store.AuditRecord, error) {
		seen, wasRegistered = *c, registered
		switch c.Status(now) {
		case store.ClaimUsed:
			return store.AuditRecord{}, ErrUsed
		case store.ClaimRevoked:
			return store.AuditRecord{}, ErrRevoked
		case store.ClaimExpired:
			return store.AuditRecord{}, ErrExpired
		}
		switch {
		case req.Village != "" && req.Village != c.Village:
			return store.AuditRecord{}, fmt.Errorf("%w: the box asked for %s", ErrWrongVillage, req.Village)
		case c.BrokerURL != addrs.BrokerURL || c.MediaURL != addrs.MediaURL || c.KeyID != key:
			return store.AuditRecord{}, ErrStale
		case registered && b.Retired():
			return store.AuditRecord{}, fleet.ErrRetired
		case len(c.Sealed) == 0:
			return store.AuditRecord{}, ErrUsed
		}
		sealed = bytes.Clone(c.Sealed)
		c.UsedAt, c.UsedFrom = now, addr
		b.SecretHash = c.SecretHash
		if !registered {
			b.Name, b.Place, b.Township, b.CreatedAt = c.Name, c.Place, c.Township, now
		}
		return store.AuditRecord{Time: now, Actor: "box:" + c.Village, Action: "claim.use", Village: c.Village,
			Target: fmt.Sprintf("claim/%d", c.ID), After: mustJSON(map[string]any{"box_id": c.Village, "registered_before": registered}),
			Note: "enrolled from " + addr}, nil
	})
	if errors.Is(err, store.ErrNotFound) {
		err = ErrUnknown
	}
	if err != nil {
		if refusal(err) {
			s.refused(ctx, addr, seen, err)
		}
		return nil, fmt.Errorf("enroll: %w", err)
	}
	s.fl.Enrolled(ctx, b, wasRegistered)
	s.log.Info("box enrolled", "box_id", b.ID, "claim", c.ID, "addr", addr)
	return claim.EncodeSealed(sealed), nil
}

func refusal(err error) bool {
	for _, e := range []error{ErrInvalid, ErrUnknown, ErrUsed, ErrExpired, ErrRevoked, ErrWrongVillage, ErrStale, fleet.ErrRetired} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// refused counts and records a refusal from addr of claim c (zero when
// none was found).
func (s *Service) refused(ctx context.Context, addr string, c store.Claim, why error) {
	s.limit.failed(addr, s.now())
	target := "claim/unknown"
	if c.ID != 0 {
		target = fmt.Sprintf("claim/%d", c.ID)
	}
	a := store.AuditRecord{Time: s.now(), Actor: "enroll", Action: "claim.refuse", Village: c.Village, Target: target,
		Note: fmt.Sprintf("from %s: %v", addr, why)}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if _, err := s.st.AppendAudit(ctx, a); err != nil {
		s.log.Error("audit: recording a refused claim code failed", "err", err)
	}
	s.log.Warn("claim code refused", "box_id", c.Village, "addr", addr, "err", why)
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("enroll: encode audit: %v", err)) // strings and times only
	}
	return b
}
