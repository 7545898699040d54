package lists

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/dalaba/dalaba/cloud/store"
)

// AuditView is one audit record as the API shows it.
type AuditView struct {
	Seq     uint64          `json:"seq"`
	Time    time.Time       `json:"time"`
	Actor   string          `json:"actor"`
	Action  string          `json:"action"`
	Village string          `json:"village,omitempty"`
	Entry   uint64          `json:"entry,omitempty"`
	Target  string          `json:"target,omitempty"`
	Before  json.RawMessage `json:"before,omitempty"`
	After   json.RawMessage `json:"after,omitempty"`
	Note    string          `json:"note,omitempty"`
}

// Limits of one audit page.
const (
	DefaultAuditLimit = 100
	MaxAuditLimit     = 1000
)

// Audit returns the records f selects, oldest first; f.Limit 0 means
// DefaultAuditLimit.
func (s *Service) Audit(ctx context.Context, f store.AuditFilter) ([]AuditView, error) {
	if f.Limit == 0 {
		f.Limit = DefaultAuditLimit
	}
	if f.Limit < 0 || f.Limit > MaxAuditLimit {
		return nil, fmt.Errorf("%w: limit: %d, want 1 to %d", ErrInvalid, f.Limit, MaxAuditLimit)
	}
	rs, err := s.st.ListAudit(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("lists: audit: %w", err)
	}
	out := make([]AuditView, 0, len(rs))
	for _, r := range rs {
		out = append(out, AuditView{
			Seq: r.Seq, Time: r.Time, Actor: r.Actor, Action: r.Action, Village: r.Village, Entry: r.EntryID,
			Target: r.Target, Before: r.Before, After: r.After, Note: r.Note,
		})
	}
	return out, nil
}
