package lists

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/dalaba/dalaba/cloud/auth"
	"github.com/dalaba/dalaba/cloud/sheet"
	"github.com/dalaba/dalaba/cloud/store"
)

// The roster's import from the sheet a village keeps: .xlsx (the first
// sheet) or .csv (UTF-8 or GBK). The row model, as the template says:
//
//   - row 1 is the header; its columns may come in any order: 户主, 户号
//     and 姓名 are required, 身份证后四位, 所属村民小组 and 联系电话 optional;
//   - every other row is one person: 姓名 with the 户号 of their household;
//   - a row with 户主 filled in names (or confirms) the household's head,
//     and its 所属村民小组 the household's group; the head's own row is the
//     one whose 姓名 is the 户主. A row may leave 户主 empty when another
//     row of the file, or the roster already, has the household;
//   - 身份证后四位 and 联系电话 left empty keep what the roster has.
//
// A person is the same person as one of the roster when they have the
// same household and name and, where both have them, the same last four
// ID digits; someone whose name and ID digits match a person of another
// household has moved there. Everything else is new.
//
// A preview plans the import against the roster as it is and writes
// nothing: what would be added, changed, or refused (each refused row with
// its number and reason). The import itself plans again inside the one
// store transaction that writes it, and is refused (ErrStale) unless the
// plan is the one previewed, so what is written is exactly what the
// official confirmed; refused rows are left out, every other row is
// written, with one audit record. Importing a file again changes nothing
// it already changed.

// Errors of an import (the API's roster.bad_file and roster.stale).
var (
	// ErrBadFile wraps a file that cannot be read as a roster: not a
	// workbook or CSV, or without the required header columns.
	ErrBadFile = errors.New("lists: not a roster file")
	// ErrStale: the roster changed since the preview; preview again.
	ErrStale = errors.New("lists: the roster changed since the preview")
)

// MaxImportBytes bounds a roster file: a village of 800 households is a
// few hundred kilobytes.
const MaxImportBytes = 8 << 20

// The roster sheet's columns, as the template has them.
const (
	ColHead      = "户主"
	ColHousehold = "户号"
	ColName      = "姓名"
	ColID4       = "身份证后四位"
	ColGroup     = "所属村民小组"
	ColPhone     = "联系电话"
)

// RosterColumns are the template's columns in its order.
func RosterColumns() []string {
	return []string{ColHead, ColHousehold, ColName, ColID4, ColGroup, ColPhone}
}

// Reasons a row is refused (Refusal.Reason): stable, for programs and the
// console's sentences.
const (
	RefuseNameEmpty        = "name_empty"        // 姓名 is empty
	RefuseHouseholdEmpty   = "household_empty"   // 户号 is empty
	RefuseHouseholdInvalid = "household_invalid" // 户号 has other than letters, digits, '-', '_', or is too long
	RefuseHeadConflict     = "head_conflict"     // an earlier row gave the 户号 another 户主
	RefuseHouseholdMissing = "household_missing" // no 户主 for the 户号 in the file or the roster
	RefuseGroupConflict    = "group_conflict"    // an earlier row gave the household another 村民小组
	RefuseDuplicate        = "duplicate"         // the same person as an earlier row
	RefusePhoneInvalid     = "phone_invalid"     // 联系电话 is not a phone number
	RefuseID4Invalid       = "id_last4_invalid"  // 身份证后四位 is not four ID characters
	RefuseTextInvalid      = "text_invalid"      // a name too long, or with control characters
)

// Refusal is one problem of one row; a row with any is left out.
type Refusal struct {
	Row    int    `json:"row"`              // as the sheet numbers it: the header is row 1
	Column string `json:"column,omitempty"` // the column's header, e.g. 户号
	Reason string `json:"reason"`           // one of the Refuse* constants
	Detail string `json:"detail"`           // in English, with the values
}

// HouseholdChange is a household the import changes.
type HouseholdChange struct {
	Row    int           `json:"row"`
	Before HouseholdView `json:"before"`
	After  HouseholdView `json:"after"`
}

// PersonChange is a person the import changes (phone, ID digits, or a
// move to another household).
type PersonChange struct {
	Row    int        `json:"row"`
	Before PersonView `json:"before"`
	After  PersonView `json:"after"`
}

// PersonAdd is a person the import adds, with the row they come from.
type PersonAdd struct {
	Row int `json:"row"`
	PersonView
}

// ImportPlan is what an import would do, or did.
type ImportPlan struct {
	File      string `json:"file"`
	Format    string `json:"format"` // xlsx, or csv with its encoding: csv UTF-8, csv GBK
	Rows      int    `json:"rows"`   // the rows that are not empty, header left out
	Digest    string `json:"digest"` // names exactly these changes: confirm with it
	Unchanged int    `json:"unchanged"`

	AddHouseholds    []HouseholdView   `json:"add_households"`
	ChangeHouseholds []HouseholdChange `json:"change_households"`
	AddPersons       []PersonAdd       `json:"add_persons"`
	ChangePersons    []PersonChange    `json:"change_persons"`
	Refused          []Refusal         `json:"refused"`

	change store.RosterChange
	// before holds what change replaces, as stored: a confirmation holds
	// for the roster it was previewed against, not only for what it writes.
	before store.RosterChange
}

// Empty reports whether the plan changes nothing.
func (p ImportPlan) Empty() bool { return p.change.Empty() }

// RosterFile is a roster file read into rows.
type RosterFile struct {
	Name   string
	Format string
	Rows   [][]string
}

// ReadRosterFile reads r (at most MaxImportBytes) as a roster file named
// name; ErrBadFile when it is neither a workbook nor CSV text.
func ReadRosterFile(name string, r io.Reader) (RosterFile, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxImportBytes+1))
	if err != nil {
		return RosterFile{}, fmt.Errorf("lists: read %s: %w", name, err)
	}
	rows, err := sheet.Read(bytes.NewReader(b), MaxImportBytes)
	if err != nil {
		return RosterFile{}, fmt.Errorf("%w: %s: %w", ErrBadFile, name, err)
	}
	format := "xlsx"
	if !bytes.HasPrefix(b, []byte("PK")) {
		format = "csv " + sheet.Encoding(b)
	}
	return RosterFile{Name: name, Format: format, Rows: rows}, nil
}

// RosterTemplate is the roster's template: the header row, and a sheet
// saying how to fill it in.
func RosterTemplate() []sheet.Table {
	return []sheet.Table{
		{Name: "村民名册", Header: RosterColumns()},
		{Name: "填写说明", Header: []string{"说明"}, Rows: [][]any{
			{"每一行是一位村民：填写姓名和所在户的户号。"},
			{"户主一栏写该户户主的姓名；户主本人那一行的姓名就是户主。同一户的其他行可以不写户主，但同一户号不能写不同的户主。"},
			{"户号只用数字、小写字母、连字符（-）或下划线，最长 48 个字符。"},
			{"所属村民小组写在户主那一行即可；同一户不能写不同的小组。"},
			{"身份证后四位和联系电话可以不填；不填时系统里已有的不会被清除。"},
			{"导入前会先预览：哪些会新增、哪些会修改、哪些行被拒绝及原因。确认后才写入。同一个文件导入两次，第二次不会有任何改动。"},
		}},
	}
}

// row is one person row of the file, normalized.
type row struct {
	n                                     int
	head, household, name, id4, group, ph string
}

// columns finds the header's columns: a header cell names a column when
// it starts with the column's name (so "联系电话（选填）" is 联系电话).
func columns(header []string) (map[string]int, error) {
	at := map[string]int{}
	for i, h := range header {
		h = cleanCell(h)
		for _, c := range RosterColumns() {
			if _, seen := at[c]; !seen && strings.HasPrefix(h, c) {
				at[c] = i
			}
		}
	}
	var missing []string
	for _, c := range []string{ColHead, ColHousehold, ColName} {
		if _, ok := at[c]; !ok {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%w: row 1 has no column %s (the template's header is %s)", ErrBadFile, strings.Join(missing, ", "), strings.Join(RosterColumns(), ", "))
	}
	return at, nil
}

// cleanCell trims spaces, the ideographic space (U+3000) included.
func cleanCell(s string) string {
	return strings.TrimFunc(s, func(r rune) bool { return unicode.IsSpace(r) || r == '\u3000' || r == '\ufeff' })
}

// lowerASCII lower-cases ASCII letters only: 户号 "A12" is "a12".
func lowerASCII(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'A' && r <= 'Z' {
			return r + ('a' - 'A')
		}
		return r
	}, s)
}

// readRows turns the file's rows into person rows, refusing the ones with
// a problem of their own.
func readRows(f RosterFile) ([]row, []Refusal, int, error) {
	if len(f.Rows) == 0 {
		return nil, nil, 0, fmt.Errorf("%w: the file is empty", ErrBadFile)
	}
	at, err := columns(f.Rows[0])
	if err != nil {
		return nil, nil, 0, err
	}
	cell := func(cells []string, col string) string {
		i, ok := at[col]
		if !ok || i >= len(cells) {
			return ""
		}
		return cleanCell(cells[i])
	}
	var rows []row
	var refused []Refusal
	count := 0
	for i, cells := range f.Rows[1:] {
		n := i + 2
		if slices.IndexFunc(cells, func(c string) bool { return cleanCell(c) != "" }) < 0 {
			continue
		}
		count++
		r := row{n: n, head: cell(cells, ColHead), household: lowerASCII(cell(cells, ColHousehold)), name: cell(cells, ColName),
			id4: NormalizeID4(cell(cells, ColID4)), group: cell(cells, ColGroup), ph: NormalizePhone(cell(cells, ColPhone))}
		var bad []Refusal
		refuse := func(col, reason, detail string) {
			bad = append(bad, Refusal{Row: n, Column: col, Reason: reason, Detail: detail})
		}
		switch {
		case r.name == "":
			refuse(ColName, RefuseNameEmpty, "姓名 is empty")
		case checkText("name", r.name, 1, MaxName) != nil:
			refuse(ColName, RefuseTextInvalid, fmt.Sprintf("姓名 %q: 1 to %d characters, no control characters", r.name, MaxName))
		}
		switch {
		case r.household == "":
			refuse(ColHousehold, RefuseHouseholdEmpty, "户号 is empty")
		case checkHouseholdID("household", r.household) != nil:
			refuse(ColHousehold, RefuseHouseholdInvalid, fmt.Sprintf("户号 %q: digits, letters, '-' or '_', at most %d characters", r.household, maxHouseholdID))
		}
		if r.head != "" && checkText("head", r.head, 1, MaxName) != nil {
			refuse(ColHead, RefuseTextInvalid, fmt.Sprintf("户主 %q: 1 to %d characters, no control characters", r.head, MaxName))
		}
		if checkText("group", r.group, 0, MaxGroup) != nil {
			refuse(ColGroup, RefuseTextInvalid, fmt.Sprintf("所属村民小组 %q: at most %d characters, no control characters", r.group, MaxGroup))
		}
		if checkPhone("phone", r.ph) != nil {
			refuse(ColPhone, RefusePhoneInvalid, fmt.Sprintf("联系电话 %q: 5 to %d digits", r.ph, MaxPhone))
		}
		if checkID4("id_last4", r.id4) != nil {
			refuse(ColID4, RefuseID4Invalid, fmt.Sprintf("身份证后四位 %q: four characters, digits, the last may be X", r.id4))
		}
		if len(bad) > 0 {
			refused = append(refused, bad...)
			continue
		}
		rows = append(rows, r)
	}
	return rows, refused, count, nil
}

// personKey names a person within a household by name and ID digits.
type personKey struct{ household, name, id4 string }

// sameID4 reports whether two persons' ID digits do not tell them apart:
// equal, or one of them has none.
func sameID4(a, b string) bool { return a == "" || b == "" || a == b }

// planImport plans f against roster r, as by at at; views show personal
// data unmasked only with reveal.
func planImport(f RosterFile, r store.Roster, by string, at time.Time, reveal bool) (ImportPlan, error) {
	rows, refused, count, err := readRows(f)
	if err != nil {
		return ImportPlan{}, err
	}
	p := ImportPlan{File: f.Name, Format: f.Format, Rows: count, AddHouseholds: []HouseholdView{}, ChangeHouseholds: []HouseholdChange{},
		AddPersons: []PersonAdd{}, ChangePersons: []PersonChange{}}
	ok := make([]bool, len(rows))
	for i := range ok {
		ok[i] = true
	}
	refuse := func(i int, col, reason, detail string) {
		ok[i] = false
		refused = append(refused, Refusal{Row: rows[i].n, Column: col, Reason: reason, Detail: detail})
	}
	stored := map[string]store.Household{}
	for _, h := range r.Households {
		stored[h.ID] = h
	}

	// The households the file names a head for, by the first row that
	// does; a later row naming another head is refused.
	type def struct {
		head string
		row  int
	}
	defs := map[string]def{}
	var order []string // households in the order the file first names them
	for i, x := range rows {
		if x.head == "" {
			continue
		}
		d, seen := defs[x.household]
		switch {
		case !seen:
			defs[x.household] = def{x.head, x.n}
			order = append(order, x.household)
		case d.head != x.head:
			refuse(i, ColHead, RefuseHeadConflict, fmt.Sprintf("户号 %s has 户主 %q in row %d, not %q", x.household, d.head, d.row, x.head))
		}
	}
	// Every other row needs its household in the file or the roster.
	for i, x := range rows {
		if !ok[i] {
			continue
		}
		if _, inFile := defs[x.household]; !inFile {
			if _, inRoster := stored[x.household]; !inRoster {
				refuse(i, ColHousehold, RefuseHouseholdMissing, fmt.Sprintf("户号 %s: no row gives its 户主 and the roster has no such household", x.household))
				continue
			}
			if !slices.Contains(order, x.household) {
				order = append(order, x.household)
			}
		}
	}
	// A household's group: its head row's, else its first row's that has
	// one; another is refused.
	type grp struct {
		name string
		row  int
	}
	groups := map[string]grp{}
	for _, head := range []bool{true, false} {
		for i, x := range rows {
			if ok[i] && x.group != "" && (x.head != "") == head {
				if _, seen := groups[x.household]; !seen {
					groups[x.household] = grp{x.group, x.n}
				}
			}
		}
	}
	for i, x := range rows {
		if g := groups[x.household]; ok[i] && x.group != "" && x.group != g.name {
			refuse(i, ColGroup, RefuseGroupConflict, fmt.Sprintf("户号 %s is in 村民小组 %q (row %d), not %q", x.household, g.name, g.row, x.group))
		}
	}

	// Households: new ones, and stored ones whose head or group the file
	// changes.
	for _, hid := range order {
		d, inFile := defs[hid]
		g, hasGroup := groups[hid]
		old, inRoster := stored[hid]
		switch {
		case !inRoster:
			h := store.Household{ID: hid, Head: d.head, Group: g.name, CreatedAt: at, CreatedBy: by}
			p.change.Households = append(p.change.Households, h)
			p.AddHouseholds = append(p.AddHouseholds, householdView(h, nil, reveal))
		case (inFile && d.head != old.Head) || (hasGroup && g.name != old.Group):
			h := old
			if inFile {
				h.Head = d.head
			}
			if hasGroup {
				h.Group = g.name
			}
			h.UpdatedAt, h.UpdatedBy = at, by
			row := g.row
			if inFile {
				row = d.row
			}
			p.change.Households = append(p.change.Households, h)
			p.before.Households = append(p.before.Households, old)
			p.ChangeHouseholds = append(p.ChangeHouseholds, HouseholdChange{Row: row, Before: householdView(old, nil, reveal), After: householdView(h, nil, reveal)})
		}
	}

	// Persons: the same as one of the roster (changed or not), moved from
	// another household, or new.
	claimed := map[string]bool{} // stored persons a row has matched
	taken := map[string]bool{}   // ids given to new persons
	var earlier []personKey
	for i, x := range rows {
		if !ok[i] {
			continue
		}
		if j := slices.IndexFunc(earlier, func(k personKey) bool {
			return k.household == x.household && k.name == x.name && sameID4(k.id4, x.id4)
		}); j >= 0 {
			refuse(i, ColName, RefuseDuplicate, fmt.Sprintf("%s of 户号 %s is already in an earlier row", x.name, x.household))
			continue
		}
		earlier = append(earlier, personKey{x.household, x.name, x.id4})
		match := -1
		for j, sp := range r.Persons {
			if !claimed[sp.ID] && sp.Household == x.household && sp.Name == x.name && sameID4(sp.IDLast4, x.id4) {
				if match < 0 || (x.id4 != "" && sp.IDLast4 == x.id4) {
					match = j
				}
			}
		}
		if match < 0 && x.id4 != "" { // moved from another household?
			match = slices.IndexFunc(r.Persons, func(sp store.Person) bool {
				return !claimed[sp.ID] && sp.Name == x.name && sp.IDLast4 == x.id4
			})
		}
		if match < 0 {
			np := store.Person{ID: newPersonID(x.household, r.Persons, taken), Name: x.name, Household: x.household, Phone: x.ph, IDLast4: x.id4,
				Status: store.PersonActive, CreatedAt: at, CreatedBy: by}
			taken[np.ID] = true
			p.change.Persons = append(p.change.Persons, np)
			p.AddPersons = append(p.AddPersons, PersonAdd{Row: x.n, PersonView: personView(np, reveal)})
			continue
		}
		old := r.Persons[match]
		claimed[old.ID] = true
		np := old
		np.Household = x.household
		if x.ph != "" {
			np.Phone = x.ph
		}
		if x.id4 != "" {
			np.IDLast4 = x.id4
		}
		if np.Household == old.Household && np.Phone == old.Phone && np.IDLast4 == old.IDLast4 {
			p.Unchanged++
			continue
		}
		np.UpdatedAt, np.UpdatedBy = at, by
		p.change.Persons = append(p.change.Persons, np)
		p.before.Persons = append(p.before.Persons, old)
		p.ChangePersons = append(p.ChangePersons, PersonChange{Row: x.n, Before: personView(old, reveal), After: personView(np, reveal)})
	}
	slices.SortStableFunc(refused, func(a, b Refusal) int { return a.Row - b.Row })
	p.Refused = refused
	if p.Refused == nil {
		p.Refused = []Refusal{}
	}
	p.Digest = digest(p.change, p.before)
	return p, nil
}

// digest names a change by what it writes and what it replaces, times
// and authors left out.
func digest(c, before store.RosterChange) string {
	type line struct {
		Kind, ID, Head, Group, Name, Household, Phone, ID4 string
	}
	var lines []line
	for kind, rc := range map[string]store.RosterChange{"": c, "was ": before} {
		for _, h := range rc.Households {
			lines = append(lines, line{Kind: kind + "h", ID: h.ID, Head: h.Head, Group: h.Group})
		}
		for _, p := range rc.Persons {
			lines = append(lines, line{Kind: kind + "p", ID: p.ID, Name: p.Name, Household: p.Household, Phone: p.Phone, ID4: p.IDLast4})
		}
	}
	slices.SortStableFunc(lines, func(a, b line) int { return strings.Compare(a.Kind, b.Kind) })
	b, err := json.Marshal(lines)
	if err != nil {
		panic(fmt.Sprintf("lists: encode a roster change: %v", err)) // strings only
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

// PreviewImport plans importing f into village's roster and writes
// nothing.
func (s *Service) PreviewImport(ctx context.Context, by Actor, village string, f RosterFile, reveal bool) (ImportPlan, error) {
	if err := by.may(auth.ActionEditLists); err != nil {
		return ImportPlan{}, err
	}
	if _, err := s.village(ctx, village); err != nil {
		return ImportPlan{}, err
	}
	hs, err := s.st.ListHouseholds(ctx, village)
	if err != nil {
		return ImportPlan{}, fmt.Errorf("lists: preview import into %s: %w", village, err)
	}
	ps, err := s.st.ListPersons(ctx, village)
	if err != nil {
		return ImportPlan{}, fmt.Errorf("lists: preview import into %s: %w", village, err)
	}
	return planImport(f, store.Roster{Households: hs, Persons: ps}, by.Name, s.now(), reveal)
}

// Import imports f into village's roster as previewed: the plan is made
// again against the roster inside the transaction that writes it, and
// must have digest (ErrStale otherwise: preview again). Every row not
// refused is written, with one audit record; a plan that changes nothing
// writes nothing.
func (s *Service) Import(ctx context.Context, by Actor, village string, f RosterFile, want string, reveal bool) (ImportPlan, error) {
	if err := by.may(auth.ActionEditLists); err != nil {
		return ImportPlan{}, err
	}
	now := s.now()
	var p ImportPlan
	_, err := s.st.ApplyRoster(ctx, village, func(r store.Roster) (store.RosterChange, store.AuditRecord, error) {
		var err error
		p, err = planImport(f, r, by.Name, now, reveal)
		if err != nil {
			return store.RosterChange{}, store.AuditRecord{}, err
		}
		if p.Digest != want {
			return store.RosterChange{}, store.AuditRecord{}, fmt.Errorf("%w: preview the file again and confirm what it shows now", ErrStale)
		}
		return p.change, importRecord(p, by.Name, now), nil
	})
	if err != nil {
		return ImportPlan{}, fmt.Errorf("lists: import %s into %s: %w", f.Name, village, err)
	}
	s.log.Info("roster imported", "box_id", village, "file", f.Name, "households_added", len(p.AddHouseholds), "households_changed", len(p.ChangeHouseholds),
		"persons_added", len(p.AddPersons), "persons_changed", len(p.ChangePersons), "rows_refused", refusedRows(p.Refused), "user", by.Name)
	return p, nil
}

// importRecord is an import's audit record: what it changed, by id, and
// which rows it left out; no personal data.
func importRecord(p ImportPlan, by string, at time.Time) store.AuditRecord {
	ids := func(n int, id func(int) string) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = id(i)
		}
		return out
	}
	summary := map[string]any{
		"file": p.File, "format": p.Format, "digest": p.Digest, "rows": p.Rows, "unchanged": p.Unchanged,
		"add_households":    ids(len(p.AddHouseholds), func(i int) string { return p.AddHouseholds[i].ID }),
		"change_households": ids(len(p.ChangeHouseholds), func(i int) string { return p.ChangeHouseholds[i].After.ID }),
		"add_persons":       ids(len(p.AddPersons), func(i int) string { return p.AddPersons[i].ID }),
		"change_persons":    ids(len(p.ChangePersons), func(i int) string { return p.ChangePersons[i].After.ID }),
		"refused_rows":      refusedRowNumbers(p.Refused),
	}
	note := fmt.Sprintf("%s: %d households added, %d changed; %d persons added, %d changed; %d rows refused",
		p.File, len(p.AddHouseholds), len(p.ChangeHouseholds), len(p.AddPersons), len(p.ChangePersons), refusedRows(p.Refused))
	return store.AuditRecord{Time: at, Actor: by, Action: "roster.import", Target: "roster", After: mustJSON(summary), Note: note}
}

func refusedRowNumbers(rs []Refusal) []int {
	var out []int
	for _, r := range rs {
		if len(out) == 0 || out[len(out)-1] != r.Row {
			out = append(out, r.Row)
		}
	}
	return out
}

func refusedRows(rs []Refusal) int { return len(refusedRowNumbers(rs)) }
