package lists

import (
	"context"
	"fmt"
	"time"

	"github.com/dalaba/dalaba/cloud/auth"
	"github.com/dalaba/dalaba/cloud/store"
)

// Row is one published entry of a list, with the names resolved.
type Row struct {
	Entry         uint64         `json:"entry"`
	Kind          store.ListKind `json:"kind"`
	Subject       Subject        `json:"subject"`
	Name          string         `json:"name"` // as spoken: a person's name or "<户主>户"
	Household     string         `json:"household"`
	HouseholdHead string         `json:"household_head"`
	Category      string         `json:"category"`
	Reason        string         `json:"reason"`
	Points        int            `json:"points"`
	PublishedAt   time.Time      `json:"published_at,omitzero"`
	// Notice marks a row on public notice (公示) until NoticeEnds.
	Notice     bool      `json:"notice,omitempty"`
	NoticeEnds time.Time `json:"notice_ends,omitzero"`
}

// ListView is a village's list of a period: its published entries and
// those on public notice (marked), what the poster and the console show.
type ListView struct {
	Village     string `json:"village"`
	VillageName string `json:"village_name"`
	Period      string `json:"period"`
	// Expired is set once the period has ended: the rows stay for the
	// record, the announcement is withdrawn.
	Expired bool  `json:"expired"`
	Red     []Row `json:"red"`
	Black   []Row `json:"black"`
	// NoticeEnds is when the last of the rows on public notice becomes
	// final; zero when none is.
	NoticeEnds time.Time `json:"notice_ends,omitzero"`
	Text       string    `json:"text"` // the announcement now (published rows only); "" when withdrawn
}

// List returns village's published, unrevoked entries of period and those
// on public notice, red then black, each by entry id, and the text
// announced for the published ones.
func (s *Service) List(ctx context.Context, village, period string) (ListView, error) {
	if _, err := parsePeriod(period, s.loc); err != nil {
		return ListView{}, err
	}
	box, err := s.village(ctx, village)
	if err != nil {
		return ListView{}, err
	}
	es, err := s.st.ListEntries(ctx, store.EntryFilter{Village: village, Period: period})
	if err != nil {
		return ListView{}, fmt.Errorf("lists: list %s %s: %w", village, period, err)
	}
	names, err := s.names(ctx, village)
	if err != nil {
		return ListView{}, err
	}
	name := box.Name
	if name == "" {
		name = box.ID
	}
	v := ListView{Village: village, VillageName: name, Period: period, Expired: s.ended(period), Red: []Row{}, Black: []Row{}}
	a := Announcement{Village: name, Period: period, YearMonth: yearMonth(period)}
	spokenLines := 0
	for _, e := range es {
		if e.Status != store.StatusPublished && e.Status != store.StatusNotice {
			continue
		}
		r := names.row(e)
		if e.Status == store.StatusNotice {
			r.Notice, r.NoticeEnds = true, e.NoticeEnds
			if e.NoticeEnds.After(v.NoticeEnds) {
				v.NoticeEnds = e.NoticeEnds
			}
		}
		if e.Kind == store.KindRed {
			v.Red = append(v.Red, r)
		} else {
			v.Black = append(v.Black, r)
		}
		if r.Notice {
			continue
		}
		l := Line{Name: s.maskRow(r, "某").Name, Category: r.Category, Reason: spoken(r.Reason), Points: r.Points}
		if e.Kind == store.KindRed {
			a.Red = append(a.Red, l)
		} else {
			a.Black = append(a.Black, l)
		}
		spokenLines++
	}
	if !v.Expired && spokenLines > 0 {
		if v.Text, err = execute(s.tmpl, a); err != nil {
			return ListView{}, fmt.Errorf("lists: render %s %s: %w", village, period, err)
		}
	}
	return v, nil
}

// PublicList is List as the public sees it: names as Privacy says,
// reasons shortened, no register ids.
func (s *Service) PublicList(ctx context.Context, village, period string) (ListView, error) {
	v, err := s.List(ctx, village, period)
	if err != nil {
		return ListView{}, err
	}
	for i := range v.Red {
		v.Red[i] = s.publicRow(v.Red[i])
	}
	for i := range v.Black {
		v.Black[i] = s.publicRow(v.Black[i])
	}
	return v, nil
}

// registers resolves subjects to names.
type registers struct {
	persons    map[string]store.Person
	households map[string]store.Household
}

func (s *Service) names(ctx context.Context, village string) (registers, error) {
	ps, err := s.st.ListPersons(ctx, village)
	if err != nil {
		return registers{}, fmt.Errorf("lists: persons of %s: %w", village, err)
	}
	hs, err := s.st.ListHouseholds(ctx, village)
	if err != nil {
		return registers{}, fmt.Errorf("lists: households of %s: %w", village, err)
	}
	r := registers{persons: map[string]store.Person{}, households: map[string]store.Household{}}
	for _, p := range ps {
		r.persons[p.ID] = p
	}
	for _, h := range hs {
		r.households[h.ID] = h
	}
	return r, nil
}

// household is the household an entry counts for.
func (r registers) household(e store.Entry) string {
	if e.SubjectKind == store.SubjectPerson {
		return r.persons[e.SubjectID].Household
	}
	return e.SubjectID
}

func (r registers) row(e store.Entry) Row {
	hh := r.household(e)
	head := r.households[hh].Head
	name := head + "户"
	if e.SubjectKind == store.SubjectPerson {
		name = r.persons[e.SubjectID].Name
	}
	return Row{
		Entry: e.ID, Kind: e.Kind, Subject: Subject{Kind: e.SubjectKind, ID: e.SubjectID}, Name: name,
		Household: hh, HouseholdHead: head, Category: e.Category, Reason: e.Reason, Points: e.Points, PublishedAt: e.PublishedAt,
	}
}

// Announce renders village's list of period again and hands it to the
// Announcer: the explicit retry after a failed announcement. An ended
// period, or one with nothing published, is announced as "" (withdrawn).
func (s *Service) Announce(ctx context.Context, by Actor, village, period string) (string, error) {
	if err := by.may(auth.ActionEditLists); err != nil {
		return "", err
	}
	return s.announce(ctx, by, village, period)
}

// announce renders and announces; every outcome is recorded in the audit
// trail. The lock makes the last announcement the latest state's.
func (s *Service) announce(ctx context.Context, by Actor, village, period string) (string, error) {
	s.announceMu.Lock()
	defer s.announceMu.Unlock()
	v, err := s.List(ctx, village, period)
	if err != nil {
		return "", err
	}
	rec := store.AuditRecord{
		Time: s.now(), Actor: by.Name, Action: "list.announce", Village: village, Target: "list/" + period,
		After: mustJSON(map[string]string{"period": period, "text": v.Text}),
	}
	var annErr error
	if s.ann == nil {
		rec.Note = "no announcer is configured; nothing scheduled"
		s.log.Warn("list not announced: no announcer", "box_id", village, "period", period)
	} else if annErr = s.ann.Announce(ctx, village, period, v.Text); annErr != nil {
		rec.Action, rec.Note = "list.announce_failed", annErr.Error()
		s.log.Error("list announcement failed; publish, revoke or announce again to retry", "box_id", village, "period", period, "err", annErr)
	} else {
		s.log.Info("list announced", "box_id", village, "period", period, "bytes", len(v.Text))
	}
	if _, err := s.st.AppendAudit(context.WithoutCancel(ctx), rec); err != nil {
		// The announcement itself went out (or failed) regardless; only
		// its record is missing, which a human must know about.
		s.log.Error("recording an announcement in the audit trail", "box_id", village, "period", period, "err", err)
	}
	if annErr != nil {
		return v.Text, fmt.Errorf("%w: %s %s: %w", ErrAnnounce, village, period, annErr)
	}
	return v.Text, nil
}
