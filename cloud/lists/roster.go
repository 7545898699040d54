package lists

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dalaba/dalaba/cloud/auth"
	"github.com/dalaba/dalaba/cloud/store"
)

// The roster: a village's households (户: 户号, 户主, 村民小组) and persons
// (姓名, phone, last four ID digits, status). Phone numbers and ID digits
// are personal data: every view masks them unless the caller asks to
// reveal them (the API lets only roles with auth.ActionViewPersonalData
// ask), and the audit trail keeps them masked. Nothing is ever deleted: a
// deceased or moved-away person stays, with the entries about them, and
// is not offered for new ones.

// Limits of the roster's fields.
const (
	MaxGroup = 32 // runes of a 村民小组
	MaxPhone = 20 // bytes of a phone number as written
	// maxHouseholdID bounds a 户号, so "<户号>-<n>" stays a valid person id.
	maxHouseholdID = 48
)

// HouseholdView is a household with its members, as the API shows it.
type HouseholdView struct {
	ID        string       `json:"id"`
	Head      string       `json:"head"`
	Group     string       `json:"group,omitempty"`
	Members   []PersonView `json:"members"`
	CreatedAt time.Time    `json:"created_at"`
	CreatedBy string       `json:"created_by"`
	UpdatedAt time.Time    `json:"updated_at,omitzero"`
	UpdatedBy string       `json:"updated_by,omitempty"`
}

// PersonView is a person as the API shows it; Phone and IDLast4 are
// masked unless revealed (Masked says which).
type PersonView struct {
	ID        string             `json:"id"`
	Name      string             `json:"name"`
	Household string             `json:"household"`
	Phone     string             `json:"phone,omitempty"`
	IDLast4   string             `json:"id_last4,omitempty"`
	Status    store.PersonStatus `json:"status"`
	Masked    bool               `json:"masked,omitempty"`
}

// Active reports whether the person may be named in new entries.
func (p PersonView) Active() bool { return p.Status == store.PersonActive || p.Status == "" }

// MaskPhone keeps a phone number's first three and last four digits
// (138****5678); a shorter one keeps only its last two.
func MaskPhone(p string) string {
	r := []rune(p)
	switch {
	case len(r) == 0:
		return ""
	case len(r) >= 11:
		return string(r[:3]) + strings.Repeat("*", len(r)-7) + string(r[len(r)-4:])
	case len(r) > 2:
		return strings.Repeat("*", len(r)-2) + string(r[len(r)-2:])
	}
	return strings.Repeat("*", len(r))
}

// MaskID4 hides the last four ID digits entirely: that there are some is
// all a list needs to show.
func MaskID4(d string) string {
	if d == "" {
		return ""
	}
	return "****"
}

func personView(p store.Person, reveal bool) PersonView {
	v := PersonView{ID: p.ID, Name: p.Name, Household: p.Household, Phone: p.Phone, IDLast4: p.IDLast4, Status: cmp.Or(p.Status, store.PersonActive)}
	if !reveal && (v.Phone != "" || v.IDLast4 != "") {
		v.Phone, v.IDLast4, v.Masked = MaskPhone(v.Phone), MaskID4(v.IDLast4), true
	}
	return v
}

func householdView(h store.Household, members []store.Person, reveal bool) HouseholdView {
	v := HouseholdView{ID: h.ID, Head: h.Head, Group: h.Group, Members: []PersonView{}, CreatedAt: h.CreatedAt, CreatedBy: h.CreatedBy,
		UpdatedAt: h.UpdatedAt, UpdatedBy: h.UpdatedBy}
	for _, p := range members {
		if p.Household == h.ID {
			v.Members = append(v.Members, personView(p, reveal))
		}
	}
	return v
}

// mustJSON encodes a view for the audit trail; views are plain structs,
// which always encode.
func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("lists: encode %T: %v", v, err)) // a programming error, not input
	}
	return b
}

// Query selects what the roster shows.
type Query struct {
	// Text finds households by 户号, 户主, 村民小组 or a member's name,
	// and persons by name, id or 户号 (phone digits too when Reveal);
	// "" finds all.
	Text string
	// Reveal shows phone numbers and ID digits unmasked: for callers
	// that checked auth.ActionViewPersonalData.
	Reveal bool
}

func (q Query) matchPerson(p store.Person) bool {
	t := strings.TrimSpace(q.Text)
	return t == "" || strings.Contains(p.Name, t) || strings.Contains(p.ID, t) || p.Household == t ||
		(q.Reveal && digitsOnly(t) && strings.Contains(p.Phone, t))
}

func (q Query) matchHousehold(h store.Household, members []store.Person) bool {
	t := strings.TrimSpace(q.Text)
	if t == "" || strings.Contains(h.ID, t) || strings.Contains(h.Head, t) || (h.Group != "" && strings.Contains(h.Group, t)) {
		return true
	}
	return slices.ContainsFunc(members, func(p store.Person) bool { return p.Household == h.ID && q.matchPerson(p) })
}

func digitsOnly(s string) bool {
	return s != "" && strings.IndexFunc(s, func(r rune) bool { return r < '0' || r > '9' }) < 0
}

// Households returns the households of village q finds, by id, each with
// all its members.
func (s *Service) Households(ctx context.Context, village string, q Query) ([]HouseholdView, error) {
	if _, err := s.village(ctx, village); err != nil {
		return nil, err
	}
	hs, err := s.st.ListHouseholds(ctx, village)
	if err != nil {
		return nil, fmt.Errorf("lists: households of %s: %w", village, err)
	}
	ps, err := s.st.ListPersons(ctx, village)
	if err != nil {
		return nil, fmt.Errorf("lists: households of %s: %w", village, err)
	}
	out := make([]HouseholdView, 0, len(hs))
	for _, h := range hs {
		if q.matchHousehold(h, ps) {
			out = append(out, householdView(h, ps, q.Reveal))
		}
	}
	return out, nil
}

// Household returns a household of village with its members.
func (s *Service) Household(ctx context.Context, village, id string, reveal bool) (HouseholdView, error) {
	h, err := s.st.GetHousehold(ctx, village, id)
	if err != nil {
		return HouseholdView{}, fmt.Errorf("lists: household %s of %s: %w", id, village, err)
	}
	ps, err := s.st.ListPersons(ctx, village)
	if err != nil {
		return HouseholdView{}, fmt.Errorf("lists: household %s of %s: %w", id, village, err)
	}
	return householdView(h, ps, reveal), nil
}

// Persons returns the persons of village q finds, by id.
func (s *Service) Persons(ctx context.Context, village string, q Query) ([]PersonView, error) {
	if _, err := s.village(ctx, village); err != nil {
		return nil, err
	}
	ps, err := s.st.ListPersons(ctx, village)
	if err != nil {
		return nil, fmt.Errorf("lists: persons of %s: %w", village, err)
	}
	out := make([]PersonView, 0, len(ps))
	for _, p := range ps {
		if q.matchPerson(p) {
			out = append(out, personView(p, q.Reveal))
		}
	}
	return out, nil
}

// Person returns a person of village.
func (s *Service) Person(ctx context.Context, village, id string, reveal bool) (PersonView, error) {
	p, err := s.st.GetPerson(ctx, village, id)
	if err != nil {
		return PersonView{}, fmt.Errorf("lists: person %s of %s: %w", id, village, err)
	}
	return personView(p, reveal), nil
}

// HouseholdInput is a new household.
type HouseholdInput struct {
	ID    string `json:"id"`    // 户号
	Head  string `json:"head"`  // 户主
	Group string `json:"group"` // 村民小组; optional
}

// PersonInput is a new person.
type PersonInput struct {
	ID        string `json:"id"` // "" = made from the household's: "<户号>-<n>"
	Name      string `json:"name"`
	Household string `json:"household"`
	Phone     string `json:"phone"`    // optional
	IDLast4   string `json:"id_last4"` // optional
}

// NormalizePhone keeps a phone number's digits and a leading '+' (spaces
// and dashes go): what is stored and compared.
func NormalizePhone(p string) string {
	var b strings.Builder
	for i, r := range strings.TrimSpace(p) {
		if (r >= '0' && r <= '9') || (r == '+' && i == 0) {
			b.WriteRune(r)
		} else if r != ' ' && r != '-' {
			b.WriteRune(r) // kept, so checkPhone can refuse it
		}
	}
	return b.String()
}

// NormalizeID4 upper-cases the check letter and, for a number a
// spreadsheet stripped of its leading zeros, puts them back.
func NormalizeID4(d string) string {
	d = strings.ToUpper(strings.TrimSpace(d))
	if digitsOnly(d) && len(d) < 4 {
		d = strings.Repeat("0", 4-len(d)) + d
	}
	return d
}

func checkPhone(field, p string) error {
	if p == "" {
		return nil
	}
	digits := strings.TrimPrefix(p, "+")
	if len(p) > MaxPhone || len(digits) < 5 || !digitsOnly(digits) {
		return fmt.Errorf("%w: %s: %q, want 5 to %d digits", ErrInvalid, field, p, MaxPhone)
	}
	return nil
}

func checkID4(field, d string) error {
	if d == "" {
		return nil
	}
	if len(d) != 4 || !digitsOnly(d[:3]) || !(digitsOnly(d[3:]) || d[3] == 'X') {
		return fmt.Errorf("%w: %s: %q, want the last four characters of an ID number (digits, the last may be X)", ErrInvalid, field, d)
	}
	return nil
}

func checkHouseholdID(field, id string) error {
	if err := checkID(field, id); err != nil {
		return err
	}
	if len(id) > maxHouseholdID {
		return fmt.Errorf("%w: %s: %q is longer than %d characters", ErrInvalid, field, id, maxHouseholdID)
	}
	return nil
}

func checkStatus(st store.PersonStatus) error {
	switch st {
	case store.PersonActive, store.PersonDeceased, store.PersonMovedAway:
		return nil
	}
	return fmt.Errorf("%w: status: %q, want active, deceased or moved_away", ErrInvalid, st)
}

// CreateHousehold registers a household of village.
func (s *Service) CreateHousehold(ctx context.Context, by Actor, village string, in HouseholdInput) (HouseholdView, error) {
	if err := by.may(auth.ActionEditLists); err != nil {
		return HouseholdView{}, err
	}
	if err := errors.Join(checkHouseholdID("id", in.ID), checkText("head", in.Head, 1, MaxName), checkText("group", in.Group, 0, MaxGroup)); err != nil {
		return HouseholdView{}, err
	}
	h := store.Household{Village: village, ID: in.ID, Head: in.Head, Group: in.Group, CreatedAt: s.now(), CreatedBy: by.Name}
	v := householdView(h, nil, false)
	a := store.AuditRecord{Time: h.CreatedAt, Actor: by.Name, Action: "household.create", Target: "household/" + in.ID, After: mustJSON(v)}
	if err := s.st.CreateHousehold(ctx, h, a); err != nil {
		return HouseholdView{}, fmt.Errorf("lists: create household %s of %s: %w", in.ID, village, err)
	}
	s.log.Info("household created", "box_id", village, "household", in.ID, "user", by.Name)
	return v, nil
}

// CreatePerson registers a villager as a member of one household; an
// empty id is made from the household's ("<户号>-<n>").
func (s *Service) CreatePerson(ctx context.Context, by Actor, village string, in PersonInput) (PersonView, error) {
	if err := by.may(auth.ActionEditLists); err != nil {
		return PersonView{}, err
	}
	in.Phone, in.IDLast4 = NormalizePhone(in.Phone), NormalizeID4(in.IDLast4)
	errs := []error{checkText("name", in.Name, 1, MaxName), checkID("household", in.Household), checkPhone("phone", in.Phone), checkID4("id_last4", in.IDLast4)}
	if in.ID != "" {
		errs = append(errs, checkID("id", in.ID))
	}
	if err := errors.Join(errs...); err != nil {
		return PersonView{}, err
	}
	var out store.Person
	_, err := s.st.ApplyRoster(ctx, village, func(r store.Roster) (store.RosterChange, store.AuditRecord, error) {
		if !slices.ContainsFunc(r.Households, func(h store.Household) bool { return h.ID == in.Household }) {
			return store.RosterChange{}, store.AuditRecord{}, fmt.Errorf("%w: household: no household %q in village %s", ErrInvalid, in.Household, village)
		}
		id := in.ID
		if id == "" {
			id = newPersonID(in.Household, r.Persons, nil)
		} else if slices.ContainsFunc(r.Persons, func(p store.Person) bool { return p.ID == id }) {
			return store.RosterChange{}, store.AuditRecord{}, fmt.Errorf("person %q of village %q: %w", id, village, store.ErrExists)
		}
		out = store.Person{Village: village, ID: id, Name: in.Name, Household: in.Household, Phone: in.Phone, IDLast4: in.IDLast4,
			Status: store.PersonActive, CreatedAt: s.now(), CreatedBy: by.Name}
		a := store.AuditRecord{Time: out.CreatedAt, Actor: by.Name, Action: "person.create", Target: "person/" + id, After: mustJSON(personView(out, false))}
		return store.RosterChange{Persons: []store.Person{out}}, a, nil
	})
	if err != nil {
		return PersonView{}, fmt.Errorf("lists: create person of %s: %w", village, err)
	}
	s.log.Info("person created", "box_id", village, "person", out.ID, "user", by.Name)
	return personView(out, false), nil
}

// newPersonID is the first "<household>-<n>" neither stored nor taken.
func newPersonID(household string, stored []store.Person, taken map[string]bool) string {
	used := map[string]bool{}
	for _, p := range stored {
		used[p.ID] = true
	}
	for n := 1; ; n++ {
		id := household + "-" + strconv.Itoa(n)
		if !used[id] && !taken[id] {
			return id
		}
	}
}

// HouseholdEdit changes a household; nil fields are kept.
type HouseholdEdit struct {
	Head  *string `json:"head"`
	Group *string `json:"group"`
}

// UpdateHousehold changes a household's head or group.
func (s *Service) UpdateHousehold(ctx context.Context, by Actor, village, id string, in HouseholdEdit) (HouseholdView, error) {
	if err := by.may(auth.ActionEditLists); err != nil {
		return HouseholdView{}, err
	}
	var errs []error
	if in.Head != nil {
		errs = append(errs, checkText("head", *in.Head, 1, MaxName))
	}
	if in.Group != nil {
		errs = append(errs, checkText("group", *in.Group, 0, MaxGroup))
	}
	if err := errors.Join(errs...); err != nil {
		return HouseholdView{}, err
	}
	var out HouseholdView
	_, err := s.st.ApplyRoster(ctx, village, func(r store.Roster) (store.RosterChange, store.AuditRecord, error) {
		i := slices.IndexFunc(r.Households, func(h store.Household) bool { return h.ID == id })
		if i < 0 {
			return store.RosterChange{}, store.AuditRecord{}, fmt.Errorf("household %q of village %q: %w", id, village, store.ErrNotFound)
		}
		h := r.Households[i]
		before := householdView(h, nil, false) // the record is about the household's own fields
		if in.Head != nil {
			h.Head = *in.Head
		}
		if in.Group != nil {
			h.Group = *in.Group
		}
		h.UpdatedAt, h.UpdatedBy = s.now(), by.Name
		a := store.AuditRecord{Time: h.UpdatedAt, Actor: by.Name, Action: "household.update", Target: "household/" + id,
			Before: mustJSON(before), After: mustJSON(householdView(h, nil, false))}
		out = householdView(h, r.Persons, false)
		return store.RosterChange{Households: []store.Household{h}}, a, nil
	})
	if err != nil {
		return HouseholdView{}, fmt.Errorf("lists: update household %s of %s: %w", id, village, err)
	}
	s.log.Info("household updated", "box_id", village, "household", id, "user", by.Name)
	return out, nil
}

// PersonEdit changes a person; nil fields are kept. A new Household moves
// the person; a Status other than active keeps them for the record but
// out of new entries.
type PersonEdit struct {
	Name      *string             `json:"name"`
	Household *string             `json:"household"`
	Phone     *string             `json:"phone"`
	IDLast4   *string             `json:"id_last4"`
	Status    *store.PersonStatus `json:"status"`
}

// UpdatePerson changes a person: name, phone, ID digits, status, or the
// household (a move).
func (s *Service) UpdatePerson(ctx context.Context, by Actor, village, id string, in PersonEdit) (PersonView, error) {
	if err := by.may(auth.ActionEditLists); err != nil {
		return PersonView{}, err
	}
	var errs []error
	if in.Name != nil {
		errs = append(errs, checkText("name", *in.Name, 1, MaxName))
	}
	if in.Household != nil {
		errs = append(errs, checkID("household", *in.Household))
	}
	if in.Phone != nil {
		*in.Phone = NormalizePhone(*in.Phone)
		errs = append(errs, checkPhone("phone", *in.Phone))
	}
	if in.IDLast4 != nil {
		*in.IDLast4 = NormalizeID4(*in.IDLast4)
		errs = append(errs, checkID4("id_last4", *in.IDLast4))
	}
	if in.Status != nil {
		errs = append(errs, checkStatus(*in.Status))
	}
	if err := errors.Join(errs...); err != nil {
		return PersonView{}, err
	}
	var out store.Person
	_, err := s.st.ApplyRoster(ctx, village, func(r store.Roster) (store.RosterChange, store.AuditRecord, error) {
		i := slices.IndexFunc(r.Persons, func(p store.Person) bool { return p.ID == id })
		if i < 0 {
			return store.RosterChange{}, store.AuditRecord{}, fmt.Errorf("person %q of village %q: %w", id, village, store.ErrNotFound)
		}
		p := r.Persons[i]
		before := personView(p, false)
		if in.Name != nil {
			p.Name = *in.Name
		}
		if in.Household != nil && *in.Household != p.Household {
			if !slices.ContainsFunc(r.Households, func(h store.Household) bool { return h.ID == *in.Household }) {
				return store.RosterChange{}, store.AuditRecord{}, fmt.Errorf("%w: household: no household %q in village %s", ErrInvalid, *in.Household, village)
			}
			p.Household = *in.Household
		}
		if in.Phone != nil {
			p.Phone = *in.Phone
		}
		if in.IDLast4 != nil {
			p.IDLast4 = *in.IDLast4
		}
		if in.Status != nil {
			p.Status = *in.Status
		}
		p.UpdatedAt, p.UpdatedBy = s.now(), by.Name
		out = p
		action := "person.update"
		if p.Household != before.Household {
			action = "person.move"
		}
		a := store.AuditRecord{Time: p.UpdatedAt, Actor: by.Name, Action: action, Target: "person/" + id, Before: mustJSON(before), After: mustJSON(personView(p, false))}
		return store.RosterChange{Persons: []store.Person{p}}, a, nil
	})
	if err != nil {
		return PersonView{}, fmt.Errorf("lists: update person %s of %s: %w", id, village, err)
	}
	s.log.Info("person updated", "box_id", village, "person", id, "user", by.Name)
	return personView(out, false), nil
}
