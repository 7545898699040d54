package lists

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/dalaba/dalaba/cloud/sheet"
	"github.com/dalaba/dalaba/cloud/store"
)

// csvFile is a roster file of CSV text.
func csvFile(t testing.TB, text string) RosterFile {
	t.Helper()
	f, err := ReadRosterFile("roster.csv", strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func newImportService(t testing.TB, st Store) *Service {
	t.Helper()
	s, err := New(Config{}, Deps{Logger: slog.New(slog.DiscardHandler), Store: st, Now: func() time.Time { return time.Date(2026, 11, 10, 9, 0, 0, 0, time.UTC) }})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func reasons(p ImportPlan) string {
	var out []string
	for _, r := range p.Refused {
		out = append(out, fmt.Sprintf("%d:%s", r.Row, r.Reason))
	}
	return strings.Join(out, " ")
}

// TestImportRowRules: each rule of the row model, as the preview reports
// it.
func TestImportRowRules(t *testing.T) {
	st := openStore(t)
	s := newImportService(t, st)
	text := "" +
		"姓名,户号,户主（必填）,所属村民小组,身份证后四位,联系电话（选填）\n" + // columns in another order, with notes
		"张三,A01,张三,一组,1234,13800000001\n" + // 2: head of a01 (户号 lower-cased)
		"张小,a01,,一组,,\n" + // 3: member, household from row 2
		"张小,a01,,,,\n" + // 4: duplicate of row 3
		"张小,a01,,,5678,\n" + // 5: a namesake told apart by ID digits? no: row 3 has none, so the same
		"李四,a02,李四,二组,,\n" + // 6
		"李五,a02,李四,三组,,\n" + // 7: another group for a02
		"王五,a03,,,,\n" + // 8: no household a03
		"赵六,a04,赵六,,123,\n" + // 9: ID digits 0123 (a number that lost its zero)
		",,,,,\n" + // 10: empty: skipped
		"孙七,a05,孙七,,12345,\n" + // 11: five ID characters
		"周八,a 06,周八,,,\n" + // 12: a space in the 户号
		"吴九,a07,吴九,,,1381234\n" // 13: phone of 7 digits is fine
	p, err := s.PreviewImport(t.Context(), clerk, "village-1", csvFile(t, text), true)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := reasons(p), "4:duplicate 5:duplicate 7:group_conflict 8:household_missing 11:id_last4_invalid 12:household_invalid"; got != want {
		t.Errorf("refused %s\nwant    %s", got, want)
	}
	if p.Rows != 11 || len(p.AddHouseholds) != 4 || len(p.AddPersons) != 5 {
		t.Errorf("%d rows, %d households, %d persons: %+v", p.Rows, len(p.AddHouseholds), len(p.AddPersons), p)
	}
	var ids []string
	for _, a := range p.AddPersons {
		ids = append(ids, a.ID+"="+a.Name+"/"+a.IDLast4)
	}
	if got := strings.Join(ids, " "); got != "a01-1=张三/1234 a01-2=张小/ a02-1=李四/ a04-1=赵六/0123 a07-1=吴九/" {
		t.Errorf("persons %s", got)
	}
	if _, err := s.PreviewImport(t.Context(), Actor{Name: "v", Role: store.RoleViewer}, "village-1", csvFile(t, text), false); !errors.Is(err, ErrForbidden) {
		t.Errorf("a viewer's preview: %v", err)
	}
	for _, bad := range []string{"", "姓名,户号\n张三,1\n", "户主,户号\n"} {
		f, err := ReadRosterFile("x.csv", strings.NewReader(bad))
		if err == nil {
			_, err = s.PreviewImport(t.Context(), clerk, "village-1", f, false)
		}
		if !errors.Is(err, ErrBadFile) {
			t.Errorf("%q: %v, want ErrBadFile", bad, err)
		}
	}
}

// TestImportChangesAndStale: a second file changes a head, a group, a
// phone; empty cells keep what the roster has; a plan made before the
// roster changed is refused.
func TestImportChangesAndStale(t *testing.T) {
	st := openStore(t)
	s := newImportService(t, st)
	ctx := t.Context()
	first := csvFile(t, "户主,户号,姓名,身份证后四位,所属村民小组,联系电话\n张三,1,张三,1234,一组,13800000001\n张三,1,张小,,一组,13800000002\n")
	p, err := s.PreviewImport(ctx, clerk, "village-1", first, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Import(ctx, clerk, "village-1", first, p.Digest, false); err != nil {
		t.Fatal(err)
	}
	second := csvFile(t, "户主,户号,姓名,身份证后四位,所属村民小组,联系电话\n张小,1,张三,,二组,\n张小,1,张小,,,13900000002\n")
	p, err = s.PreviewImport(ctx, clerk, "village-1", second, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.ChangeHouseholds) != 1 || p.ChangeHouseholds[0].After.Head != "张小" || p.ChangeHouseholds[0].After.Group != "二组" ||
		len(p.ChangePersons) != 1 || p.ChangePersons[0].After.Phone != "13900000002" || p.Unchanged != 1 {
		t.Fatalf("second preview %+v", p)
	}
	// Meanwhile someone edits the roster: the preview no longer holds.
	phone := "13700000000"
	if _, err := s.UpdatePerson(ctx, clerk, "village-1", "1-2", PersonEdit{Phone: &phone}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Import(ctx, clerk, "village-1", second, p.Digest, false); !errors.Is(err, ErrStale) {
		t.Fatalf("a stale confirmation: %v, want ErrStale", err)
	}
	p, err = s.PreviewImport(ctx, clerk, "village-1", second, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Import(ctx, clerk, "village-1", second, p.Digest, false); err != nil {
		t.Fatal(err)
	}
	first3, err := st.GetPerson(ctx, "village-1", "1-1")
	if err != nil || first3.IDLast4 != "1234" || first3.Phone != "13800000001" {
		t.Errorf("empty cells cleared what the roster had: %+v, %v", first3, err)
	}
}

// rosterFile is a village's roster file of n households, the first fifth
// of four persons, the others of three, made with sheet.Write (excelize).
func rosterFile(tb testing.TB, n int) RosterFile {
	tb.Helper()
	var rows [][]any
	for h := 1; h <= n; h++ {
		hid := fmt.Sprintf("%03d", h)
		rows = append(rows,
			[]any{"张" + hid, hid, "张" + hid, fmt.Sprintf("%04d", h), "一组", fmt.Sprintf("138%08d", h)},
			[]any{"张" + hid, hid, "李" + hid, nil, "一组", nil},
			[]any{nil, hid, "张小" + hid, nil, nil, nil},
		)
		if h <= n/5 {
			rows = append(rows, []any{nil, hid, "王" + hid, nil, nil, nil})
		}
	}
	var buf bytes.Buffer
	if err := sheet.Write(&buf, sheet.Table{Name: "名册", Header: RosterColumns(), Rows: rows}); err != nil {
		tb.Fatal(err)
	}
	f, err := ReadRosterFile("名册.xlsx", &buf)
	if err != nil {
		tb.Fatal(err)
	}
	return f
}

// BenchmarkImportPreview reads and plans a 500-household (1,600-person)
// workbook against an empty roster.
func BenchmarkImportPreview(b *testing.B) {
	st := openStore(b)
	s := newImportService(b, st)
	var buf bytes.Buffer
	f := rosterFile(b, 500)
	if err := sheet.Write(&buf, sheet.Table{Name: "名册", Header: RosterColumns(), Rows: toAny(f.Rows[1:])}); err != nil {
		b.Fatal(err)
	}
	raw := buf.Bytes()
	b.ReportAllocs()
	for b.Loop() {
		f, err := ReadRosterFile("名册.xlsx", bytes.NewReader(raw))
		if err != nil {
			b.Fatal(err)
		}
		if p, err := s.PreviewImport(b.Context(), clerk, "village-1", f, false); err != nil || len(p.AddPersons) != 1600 {
			b.Fatalf("%d persons, %v", len(p.AddPersons), err)
		}
	}
}

// BenchmarkImportCommit imports the planned 500-household workbook into a
// new village: one transaction of 2,100 records and its audit record.
func BenchmarkImportCommit(b *testing.B) {
	st := openStore(b)
	s := newImportService(b, st)
	f := rosterFile(b, 500)
	n := 0
	for b.Loop() {
		b.StopTimer()
		n++
		village := fmt.Sprintf("village-b%d", n)
		if err := st.CreateBox(b.Context(), store.Box{ID: village, Name: village}); err != nil {
			b.Fatal(err)
		}
		p, err := s.PreviewImport(b.Context(), clerk, village, f, false)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if _, err := s.Import(b.Context(), clerk, village, f, p.Digest, false); err != nil {
			b.Fatal(err)
		}
	}
}

func toAny(rows [][]string) [][]any {
	out := make([][]any, len(rows))
	for i, r := range rows {
		out[i] = make([]any, len(r))
		for j, c := range r {
			out[i][j] = c
		}
	}
	return out
}

// FuzzImportCSV: any CSV text plans without a panic, and every row that
// is not empty is added, changed, unchanged or refused: none is lost.
func FuzzImportCSV(f *testing.F) {
	f.Add("户主,户号,姓名,身份证后四位,所属村民小组,联系电话\n张三,1,张三,123X,一组,13800000001\n,1,张小,,,\n李四,1,李四,,,\n")
	f.Add("姓名,户号,户主\n,,\n王五,2,\n")
	f.Add("户主,户号,姓名\n\"a\nb\",1,c\n")
	stored := store.Roster{
		Households: []store.Household{{ID: "1", Head: "张三"}},
		Persons:    []store.Person{{ID: "1-1", Name: "张三", Household: "1", IDLast4: "123X"}},
	}
	f.Fuzz(func(t *testing.T, text string) {
		file, err := ReadRosterFile("f.csv", strings.NewReader(text))
		if err != nil {
			return
		}
		p, err := planImport(file, stored, "t", time.Time{}, false)
		if err != nil {
			if !errors.Is(err, ErrBadFile) {
				t.Fatalf("plan: %v, not ErrBadFile", err)
			}
			return
		}
		if got := len(p.AddPersons) + len(p.ChangePersons) + p.Unchanged + refusedRows(p.Refused); got != p.Rows {
			t.Fatalf("%d rows, %d accounted for: %+v", p.Rows, got, p)
		}
	})
}
