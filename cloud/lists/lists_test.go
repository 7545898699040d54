package lists

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dalaba/dalaba/cloud/store"
	"github.com/dalaba/dalaba/cloud/store/boltstore"
)

func openStore(t testing.TB) *boltstore.Store {
	t.Helper()
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "cloud.db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.CreateBox(t.Context(), store.Box{ID: "village-1", Name: "幸福村"}); err != nil {
		t.Fatal(err)
	}
	return st
}

func TestNewChecksTheTemplateAndApprovals(t *testing.T) {
	st := openStore(t)
	deps := Deps{Logger: slog.New(slog.DiscardHandler), Store: st}
	cases := []struct {
		name string
		cfg  Config
		want string // in the error; "" = accepted
	}{
		{"defaults", Config{}, ""},
		{"a custom wording", Config{Template: `{{.Village}}{{.YearMonth}}光荣榜：{{range .Red}}{{.Name}} {{end}}`}, ""},
		{"unparsable", Config{Template: `{{if .Red}}红榜`}, "template"},
		{"a field that does not exist", Config{Template: `{{.Township}}`}, "Township"},
		{"renders nothing", Config{Template: `{{/* 空 */}}`}, "renders nothing"},
		{"too many approvals", Config{Approvals: 10}, "approvals"},
		{"negative approvals", Config{Approvals: -1}, "approvals"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := New(c.cfg, deps)
			if c.want == "" && err != nil {
				t.Fatalf("New: %v", err)
			}
			if c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
				t.Fatalf("New = %v, want an error about %q", err, c.want)
			}
		})
	}
	if _, err := New(Config{}, Deps{Store: st}); err == nil {
		t.Fatal("New without a logger succeeded")
	}
}

type recorder struct{ texts []string }

func (r *recorder) Announce(_ context.Context, _, _, text string) error {
	r.texts = append(r.texts, text)
	return nil
}

// One approval configured, a custom template, household subjects and the
// month boundary in the township's zone.
func TestOneApprovalCustomTemplateAndExpiry(t *testing.T) {
	st := openStore(t)
	ctx := t.Context()
	cst := time.FixedZone("CST", 8*3600)
	now := time.Date(2026, 11, 30, 23, 59, 0, 0, cst)
	rec := &recorder{}
	s, err := New(Config{Approvals: 1, Template: `{{.Village}}{{.YearMonth}}：{{range .Red}}[{{.Name}}+{{.Points}}]{{end}}{{range .Black}}[{{.Name}}{{.Points}}]{{end}}`},
		Deps{Logger: slog.New(slog.DiscardHandler), Store: st, Announcer: rec, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	op, rv := Actor{Name: "张会计", Role: store.RoleOperator}, Actor{Name: "李评委", Role: store.RoleReviewer}
	if _, err := s.CreateHousehold(ctx, op, "village-1", HouseholdInput{ID: "h01", Head: "张大山"}); err != nil {
		t.Fatal(err)
	}
	e, err := s.CreateEntry(ctx, op, "village-1", EntryInput{Kind: store.KindBlack, Subject: Subject{Kind: store.SubjectHousehold, ID: "h01"}, Category: "厕所革命", Reason: "旱厕未改。", Period: "2026-11"})
	if err != nil {
		t.Fatal(err)
	}
	if e.Points != -5 {
		t.Fatalf("default black points of 厕所革命 = %d, want -5", e.Points)
	}
	if _, err := s.Submit(ctx, op, e.ID); err != nil {
		t.Fatal(err)
	}
	if v, err := s.Approve(ctx, rv, e.ID, ""); err != nil || v.Status != store.StatusApproved {
		t.Fatalf("one approval of one: %+v, %v", v, err)
	}
	p, err := s.Publish(ctx, op, "village-1", "2026-11")
	if err != nil {
		t.Fatal(err)
	}
	if want := "幸福村2026年11月：[张大山户-5]"; p.Text != want || len(rec.texts) != 1 || rec.texts[0] != want {
		t.Fatalf("text %q (announced %q), want %q", p.Text, rec.texts, want)
	}
	now = time.Date(2026, 12, 1, 0, 0, 0, 0, cst) // 16:00 UTC on 30 November
	if v, err := s.Entry(ctx, e.ID); err != nil || v.Status != store.StatusExpired {
		t.Fatalf("at midnight CST: %s, %v; want expired", v.Status, err)
	}
	if es, err := s.Entries(ctx, Filter{Status: store.StatusPublished}); err != nil || len(es) != 0 {
		t.Fatalf("published (unexpired) entries = %+v, %v", es, err)
	}
	if es, err := s.Entries(ctx, Filter{Status: store.StatusExpired}); err != nil || len(es) != 1 {
		t.Fatalf("expired entries = %+v, %v", es, err)
	}
	// Revocation after the period still ends the penalty and withdraws.
	if _, err := s.Revoke(ctx, rv, e.ID, "已完成改厕"); err != nil {
		t.Fatal(err)
	}
	if len(rec.texts) != 2 || rec.texts[1] != "" {
		t.Fatalf("announcements %q; want the withdrawal last", rec.texts)
	}
	if l, err := s.Points(ctx, "village-1", "h01"); err != nil || l.Total != 0 || len(l.Entries) != 1 {
		t.Fatalf("points after revocation = %+v, %v", l, err)
	}
	if _, err := s.Publish(ctx, op, "village-1", "2026-11"); !errors.Is(err, ErrConflict) {
		t.Fatalf("publishing an ended period = %v, want ErrConflict", err)
	}
}

func TestYearMonthAndSpoken(t *testing.T) {
	for in, want := range map[string]string{"2026-01": "2026年1月", "2026-11": "2026年11月"} {
		if got := yearMonth(in); got != want {
			t.Errorf("yearMonth(%s) = %s, want %s", in, got, want)
		}
	}
	if got := spoken("门前乱堆柴草。"); got != "门前乱堆柴草" {
		t.Errorf("spoken = %q", got)
	}
}
