package lists

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/dalaba/dalaba/cloud/auth"
	"github.com/dalaba/dalaba/cloud/store"
)

// DefaultCategories are a village's categories until the township puts
// its own scoring rules.
func DefaultCategories() []store.Category {
	return []store.Category{
		{Name: "人居环境整治", Red: 5, Black: -5},
		{Name: "厕所革命", Red: 5, Black: -5},
		{Name: "公共设施爱护", Red: 5, Black: -5},
		{Name: "孝老爱亲", Red: 10, Black: -10},
		{Name: "移风易俗", Red: 5, Black: -5},
		{Name: "平安家庭", Red: 5, Black: -10},
	}
}

// HouseholdView is a household with its members, as the API shows it.
type HouseholdView struct {
	ID        string       `json:"id"`
	Head      string       `json:"head"`
	Members   []PersonView `json:"members"`
	CreatedAt time.Time    `json:"created_at"`
	CreatedBy string       `json:"created_by"`
}

// PersonView is a person as the API shows it.
type PersonView struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Household string `json:"household"`
}

func personView(p store.Person) PersonView {
	return PersonView{ID: p.ID, Name: p.Name, Household: p.Household}
}

func householdView(h store.Household, members []store.Person) HouseholdView {
	v := HouseholdView{ID: h.ID, Head: h.Head, Members: []PersonView{}, CreatedAt: h.CreatedAt, CreatedBy: h.CreatedBy}
	for _, p := range members {
		if p.Household == h.ID {
			v.Members = append(v.Members, personView(p))
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

// CreateHousehold registers a household of village with its head's name.
func (s *Service) CreateHousehold(ctx context.Context, by Actor, village, id, head string) (HouseholdView, error) {
	if err := by.may(auth.ActionEditLists); err != nil {
		return HouseholdView{}, err
	}
	if err := errors.Join(checkID("id", id), checkText("head", head, 1, MaxName)); err != nil {
		return HouseholdView{}, err
	}
	h := store.Household{Village: village, ID: id, Head: head, CreatedAt: s.now(), CreatedBy: by.Name}
	v := householdView(h, nil)
	a := store.AuditRecord{Time: h.CreatedAt, Actor: by.Name, Action: "household.create", Target: "household/" + id, After: mustJSON(v)}
	if err := s.st.CreateHousehold(ctx, h, a); err != nil {
		return HouseholdView{}, fmt.Errorf("lists: create household %s of %s: %w", id, village, err)
	}
	s.log.Info("household created", "box_id", village, "household", id, "user", by.Name)
	return v, nil
}

// Household returns a household of village with its members.
func (s *Service) Household(ctx context.Context, village, id string) (HouseholdView, error) {
	h, err := s.st.GetHousehold(ctx, village, id)
	if err != nil {
		return HouseholdView{}, fmt.Errorf("lists: household %s of %s: %w", id, village, err)
	}
	ps, err := s.st.ListPersons(ctx, village)
	if err != nil {
		return HouseholdView{}, fmt.Errorf("lists: household %s of %s: %w", id, village, err)
	}
	return householdView(h, ps), nil
}

// Households returns every household of village, by id, with members.
func (s *Service) Households(ctx context.Context, village string) ([]HouseholdView, error) {
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
		out = append(out, householdView(h, ps))
	}
	return out, nil
}

// CreatePerson registers a villager as a member of one household.
func (s *Service) CreatePerson(ctx context.Context, by Actor, village, id, name, household string) (PersonView, error) {
	if err := by.may(auth.ActionEditLists); err != nil {
		return PersonView{}, err
	}
	if err := errors.Join(checkID("id", id), checkText("name", name, 1, MaxName), checkID("household", household)); err != nil {
		return PersonView{}, err
	}
	if _, err := s.village(ctx, village); err != nil {
		return PersonView{}, err
	}
	if _, err := s.st.GetHousehold(ctx, village, household); errors.Is(err, store.ErrNotFound) {
		return PersonView{}, fmt.Errorf("%w: household: no household %q in village %s", ErrInvalid, household, village)
	} else if err != nil {
		return PersonView{}, fmt.Errorf("lists: create person %s of %s: %w", id, village, err)
	}
	p := store.Person{Village: village, ID: id, Name: name, Household: household, CreatedAt: s.now(), CreatedBy: by.Name}
	v := personView(p)
	a := store.AuditRecord{Time: p.CreatedAt, Actor: by.Name, Action: "person.create", Target: "person/" + id, After: mustJSON(v)}
	if err := s.st.CreatePerson(ctx, p, a); err != nil {
		return PersonView{}, fmt.Errorf("lists: create person %s of %s: %w", id, village, err)
	}
	s.log.Info("person created", "box_id", village, "person", id, "user", by.Name)
	return v, nil
}

// Person returns a person of village.
func (s *Service) Person(ctx context.Context, village, id string) (PersonView, error) {
	p, err := s.st.GetPerson(ctx, village, id)
	if err != nil {
		return PersonView{}, fmt.Errorf("lists: person %s of %s: %w", id, village, err)
	}
	return personView(p), nil
}

// Persons returns every person of village, by id.
func (s *Service) Persons(ctx context.Context, village string) ([]PersonView, error) {
	if _, err := s.village(ctx, village); err != nil {
		return nil, err
	}
	ps, err := s.st.ListPersons(ctx, village)
	if err != nil {
		return nil, fmt.Errorf("lists: persons of %s: %w", village, err)
	}
	out := make([]PersonView, 0, len(ps))
	for _, p := range ps {
		out = append(out, personView(p))
	}
	return out, nil
}

// CategoryView is a category as the API shows it.
type CategoryView struct {
	Name  string `json:"name"`
	Red   int    `json:"red"`
	Black int    `json:"black"`
}

// Categories returns the village's categories: its own once put, the
// defaults before.
func (s *Service) Categories(ctx context.Context, village string) ([]store.Category, error) {
	if _, err := s.village(ctx, village); err != nil {
		return nil, err
	}
	cats, err := s.st.GetCategories(ctx, village)
	if errors.Is(err, store.ErrNotFound) {
		return DefaultCategories(), nil
	}
	if err != nil {
		return nil, fmt.Errorf("lists: categories of %s: %w", village, err)
	}
	return cats, nil
}

// PutCategories replaces the village's categories. Entries already
// written keep their category name and points.
func (s *Service) PutCategories(ctx context.Context, by Actor, village string, cats []store.Category) ([]store.Category, error) {
	if err := by.may(auth.ActionEditLists); err != nil {
		return nil, err
	}
	var errs []error
	if len(cats) == 0 || len(cats) > MaxCategories {
		errs = append(errs, fmt.Errorf("%w: categories: %d of them, want 1 to %d", ErrInvalid, len(cats), MaxCategories))
	}
	seen := map[string]bool{}
	for i, c := range cats {
		field := fmt.Sprintf("categories[%d]", i)
		if err := checkText(field+".name", c.Name, 1, MaxName); err != nil {
			errs = append(errs, err)
		} else if seen[c.Name] {
			errs = append(errs, fmt.Errorf("%w: %s.name: %q twice", ErrInvalid, field, c.Name))
		}
		seen[c.Name] = true
		if c.Red < 0 || c.Red > MaxPoints {
			errs = append(errs, fmt.Errorf("%w: %s.red: %d points, want 0 to %d", ErrInvalid, field, c.Red, MaxPoints))
		}
		if c.Black > 0 || c.Black < -MaxPoints {
			errs = append(errs, fmt.Errorf("%w: %s.black: %d points, want -%d to 0", ErrInvalid, field, c.Black, MaxPoints))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	old, err := s.Categories(ctx, village)
	if err != nil {
		return nil, err
	}
	a := store.AuditRecord{Time: s.now(), Actor: by.Name, Action: "categories.put", Target: "categories", Before: mustJSON(categoryViews(old)), After: mustJSON(categoryViews(cats))}
	if err := s.st.PutCategories(ctx, village, cats, a); err != nil {
		return nil, fmt.Errorf("lists: put categories of %s: %w", village, err)
	}
	s.log.Info("categories changed", "box_id", village, "count", len(cats), "user", by.Name)
	return cats, nil
}

func categoryViews(cats []store.Category) []CategoryView {
	out := make([]CategoryView, 0, len(cats))
	for _, c := range cats {
		out = append(out, CategoryView(c))
	}
	return out
}
