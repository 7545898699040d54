package lists

import (
	"context"
	"errors"
	"fmt"

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

// The roster's own code (views, reading, writing, the import) is in
// roster.go and import.go.

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
