package web

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"
	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/dalaba/dalaba/cloud/lists"
	"github.com/dalaba/dalaba/cloud/store"
)

// rosterSheet is a village's roster as its office keeps it, made with
// excelize: 500 households (户号 001-500), 1,600 persons (100 households
// of four, 400 of three), the head's row first with a phone number, some
// rows repeating the 户主, others leaving it empty. broken rows are added
// after row brokenAfter; their numbers are returned by reason.
func rosterSheet(t testing.TB, broken [][]string, brokenAfter int) ([]byte, map[int][]string) {
	t.Helper()
	f := excelize.NewFile()
	defer f.Close()
	sh := f.GetSheetName(0)
	rows := [][]string{lists.RosterColumns()}
	given := []string{"建国", "秀英", "小明", "小红"}
	for h := 1; h <= 500; h++ {
		hid := fmt.Sprintf("%03d", h)
		head := fmt.Sprintf("张%s", hid)
		group := fmt.Sprintf("第%d村民小组", (h-1)/100+1)
		n := 3
		if h <= 100 {
			n = 4
		}
		for m := range n {
			row := []string{head, hid, head, "", group, ""}
			if m == 0 {
				row[5] = fmt.Sprintf("138%08d", h)
				row[3] = fmt.Sprintf("%04d", h)
			} else {
				row[2] = fmt.Sprintf("张%s%s", given[m-1], hid)
				if m == 2 {
					row[0], row[4] = "", "" // the household is the head row's
				}
			}
			rows = append(rows, row)
		}
	}
	where := map[int][]string{}
	out := append([][]string{}, rows[:brokenAfter]...)
	for _, b := range broken {
		out = append(out, b)
		where[len(out)] = b
	}
	out = append(out, rows[brokenAfter:]...)
	for i, r := range out {
		cells := make([]any, len(r))
		for j, c := range r {
			cells[j] = c
		}
		cell, _ := excelize.CoordinatesToCellName(1, i+1)
		if err := f.SetSheetRow(sh, cell, &cells); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if _, err := f.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), where
}

// upload posts a file to a roster route as its raw body.
func (e *listsEnv) upload(t *testing.T, user, path, name string, body []byte, out any) (int, []byte) {
	t.Helper()
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	code, b, _ := e.raw(t, e.user[user], "POST", path+sep+"name="+name, "application/octet-stream", body, nil)
	if out != nil && code == 200 {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("decode %s: %v", b, err)
		}
	}
	return code, b
}

func (e *listsEnv) rosterSize(t *testing.T, village string) (households, persons int) {
	t.Helper()
	hs, err := e.st.ListHouseholds(t.Context(), village)
	if err != nil {
		t.Fatal(err)
	}
	ps, err := e.st.ListPersons(t.Context(), village)
	if err != nil {
		t.Fatal(err)
	}
	return len(hs), len(ps)
}

func (e *listsEnv) auditActions(t *testing.T, village string) []store.AuditRecord {
	t.Helper()
	recs, err := e.st.ListAudit(t.Context(), store.AuditFilter{Village: village, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// TestRosterImport: a village's 500-household, 1,600-person workbook with
// three rows broken on purpose. The preview lists each refusal with its
// row and writes nothing; the import of what was previewed writes every
// other row in one go, with its audit record; importing the file again
// changes nothing; a confirmation of a stale preview is refused.
func TestRosterImport(t *testing.T) {
	e := newListsEnv(t)
	const path = "/api/v1/villages/village-1/roster"
	file, broken := rosterSheet(t, [][]string{
		{"王冒名", "007", "王冒名", "", "", ""},     // 户号 007 is 张007's
		{"张010", "010", "", "", "第1村民小组", ""}, // no 姓名
		{"", "999", "孤零零", "", "", ""},        // no household 999 anywhere
	}, 40)
	want := map[string]int{}
	for row, cells := range broken {
		switch {
		case cells[0] == "王冒名":
			want[lists.RefuseHeadConflict] = row
		case cells[2] == "":
			want[lists.RefuseNameEmpty] = row
		default:
			want[lists.RefuseHouseholdMissing] = row
		}
	}

	var p lists.ImportPlan
	if code, b := e.upload(t, operator1, path+"/preview", "村民名册.xlsx", file, &p); code != 200 {
		t.Fatalf("preview: %d %s", code, b)
	}
	if p.Rows != 1603 || len(p.AddHouseholds) != 500 || len(p.AddPersons) != 1600 || len(p.ChangeHouseholds)+len(p.ChangePersons) != 0 || p.Format != "xlsx" {
		t.Fatalf("preview: %d rows, +%d households, +%d persons, %d and %d changes, format %s",
			p.Rows, len(p.AddHouseholds), len(p.AddPersons), len(p.ChangeHouseholds), len(p.ChangePersons), p.Format)
	}
	got := map[string]int{}
	for _, r := range p.Refused {
		got[r.Reason] = r.Row
	}
	if fmt.Sprint(got) != fmt.Sprint(want) || len(p.Refused) != 3 {
		t.Errorf("refused %+v, want rows %v", p.Refused, want)
	}
	if h, n := e.rosterSize(t, "village-1"); h != 0 || n != 0 {
		t.Fatalf("the preview wrote %d households and %d persons", h, n)
	}
	for _, a := range p.AddPersons {
		if a.Phone != "" && !strings.Contains(a.Phone, "****") {
			t.Fatalf("the preview shows a phone number unmasked: %+v", a)
		}
	}
	records := len(e.auditActions(t, "village-1"))

	if code, _ := e.upload(t, operator1, path+"/import?digest=not-the-preview", "村民名册.xlsx", file, nil); code != http.StatusConflict {
		t.Errorf("an import of another plan: %d, want 409", code)
	}
	if code, _ := e.upload(t, operator1, path+"/import", "村民名册.xlsx", file, nil); code != http.StatusBadRequest {
		t.Errorf("an import without a digest: %d, want 400", code)
	}
	if code, _ := e.upload(t, viewer1, path+"/preview", "村民名册.xlsx", file, nil); code != http.StatusForbidden {
		t.Errorf("a viewer's preview: %d, want 403", code)
	}

	var done lists.ImportPlan
	if code, b := e.upload(t, operator1, path+"/import?digest="+p.Digest, "村民名册.xlsx", file, &done); code != 200 {
		t.Fatalf("import: %d %s", code, b)
	}
	if done.Digest != p.Digest || len(done.AddPersons) != 1600 {
		t.Errorf("the import did %+v, not what was previewed", done.Digest)
	}
	if h, n := e.rosterSize(t, "village-1"); h != 500 || n != 1600 {
		t.Fatalf("after the import: %d households and %d persons, want 500 and 1600", h, n)
	}
	recs := e.auditActions(t, "village-1")
	if len(recs) != records+1 || recs[len(recs)-1].Action != "roster.import" || recs[len(recs)-1].Actor != operator1 ||
		!strings.Contains(recs[len(recs)-1].Note, "500 households added") || !strings.Contains(recs[len(recs)-1].Note, "1600 persons added") {
		t.Fatalf("audit after the import: %d records (was %d), last %+v", len(recs), records, recs[len(recs)-1])
	}
	if strings.Contains(string(recs[len(recs)-1].After), "13800000001") {
		t.Error("the audit record holds a phone number")
	}
	var h lists.HouseholdView
	e.do(t, operator1, "GET", "/api/v1/villages/village-1/households/042", "", 200, &h)
	if h.Head != "张042" || h.Group != "第1村民小组" || len(h.Members) != 4 || h.Members[0].Name != "张042" || h.Members[0].Phone != "138****0042" {
		t.Errorf("household 042: %+v", h)
	}
	e.do(t, operator1, "GET", "/api/v1/villages/village-1/households/042?reveal=true", "", 200, &h)
	if h.Members[0].Phone != "13800000042" || h.Members[0].IDLast4 != "0042" {
		t.Errorf("household 042 revealed: %+v", h.Members[0])
	}
	if code := e.call(t, e.user[viewer1], "GET", "/api/v1/villages/village-1/households/042?reveal=true", "", nil); code != 403 {
		t.Errorf("a viewer asking for phone numbers: %d, want 403", code)
	}
	var hs []lists.HouseholdView
	e.do(t, operator1, "GET", "/api/v1/villages/village-1/households?q=张秀英123", "", 200, &hs)
	if len(hs) != 1 || hs[0].ID != "123" {
		t.Errorf("search by a member's name: %+v", hs)
	}

	// The same file again: nothing to add or change, the same refusals.
	var again lists.ImportPlan
	if code, b := e.upload(t, operator1, path+"/preview", "村民名册.xlsx", file, &again); code != 200 {
		t.Fatalf("second preview: %d %s", code, b)
	}
	if len(again.AddHouseholds)+len(again.ChangeHouseholds)+len(again.AddPersons)+len(again.ChangePersons) != 0 || again.Unchanged != 1600 || len(again.Refused) != 3 {
		t.Fatalf("second preview: +%d ~%d households, +%d ~%d persons, %d unchanged, %d refused",
			len(again.AddHouseholds), len(again.ChangeHouseholds), len(again.AddPersons), len(again.ChangePersons), again.Unchanged, len(again.Refused))
	}
	if code, b := e.upload(t, operator1, path+"/import?digest="+again.Digest, "村民名册.xlsx", file, nil); code != 200 {
		t.Fatalf("second import: %d %s", code, b)
	}
	if h, n := e.rosterSize(t, "village-1"); h != 500 || n != 1600 {
		t.Errorf("after the second import: %d households and %d persons", h, n)
	}
	if n := len(e.auditActions(t, "village-1")); n != records+1 {
		t.Errorf("the second import left %d more audit records, want none", n-records-1)
	}
}

// TestRosterImportGBKCSV: a CSV saved by an older office tool in GBK is
// read as Chinese; a refused row is named (and the household it alone
// would have made is not made); a person whose row gives their
// ID digits and a new household has moved there; the template downloads.
func TestRosterImportGBKCSV(t *testing.T) {
	e := newListsEnv(t)
	const path = "/api/v1/villages/village-1/roster"
	csv := "户号,户主,姓名,身份证后四位,所属村民小组,联系电话\r\n" +
		"h1,李大山,李大山,1234,一组,139 1234 5678\r\n" +
		"h1,李大山,王秀兰,,一组,\r\n" +
		"h2,赵四,赵四,,二组,12ab\r\n" +
		"h3,钱五,钱五,,二组,\r\n"
	gbk, err := simplifiedchinese.GBK.NewEncoder().Bytes([]byte(csv))
	if err != nil {
		t.Fatal(err)
	}
	var p lists.ImportPlan
	if code, b := e.upload(t, operator1, path+"/preview?reveal=true", "名册.csv", gbk, &p); code != 200 {
		t.Fatalf("preview: %d %s", code, b)
	}
	if p.Format != "csv GBK" || len(p.AddHouseholds) != 2 || len(p.AddPersons) != 3 || len(p.Refused) != 1 || p.Refused[0].Row != 4 || p.Refused[0].Reason != lists.RefusePhoneInvalid {
		t.Fatalf("preview of the GBK file: %+v", p)
	}
	if p.AddPersons[0].Name != "李大山" || p.AddPersons[0].Phone != "13912345678" || p.AddHouseholds[0].Head != "李大山" {
		t.Errorf("the GBK file read as %+v / %+v", p.AddPersons[0], p.AddHouseholds[0])
	}
	if code, b := e.upload(t, operator1, path+"/import?digest="+p.Digest, "名册.csv", gbk, nil); code != 200 {
		t.Fatalf("import: %d %s", code, b)
	}

	// 李大山 moves to h3 (his ID digits say it is him); h1 keeps its record.
	moved := "户号,户主,姓名,身份证后四位\nh3,钱五,李大山,1234\n"
	if code, b := e.upload(t, operator1, path+"/preview", "moved.csv", []byte(moved), &p); code != 200 || len(p.ChangePersons) != 1 || p.ChangePersons[0].After.Household != "h3" || len(p.AddPersons) != 0 {
		t.Fatalf("preview of a move: %d %s", code, b)
	}
	if code, _ := e.upload(t, operator1, path+"/import?digest="+p.Digest, "moved.csv", []byte(moved), nil); code != 200 {
		t.Fatal("import of a move failed")
	}
	var person lists.PersonView
	e.do(t, operator1, "GET", "/api/v1/villages/village-1/persons/h1-1", "", 200, &person)
	if person.Household != "h3" {
		t.Errorf("after the move: %+v", person)
	}

	for name, body := range map[string][]byte{
		"no header":    []byte("张三,001\n"),
		"not a roster": {0x00, 0x01, 0xfe},
		"broken zip":   []byte("PK\x03\x04nothing"),
	} {
		if code, b := e.upload(t, operator1, path+"/preview", "x", body, nil); code != http.StatusBadRequest || !strings.Contains(string(b), "roster.bad_file") {
			t.Errorf("%s: %d %s, want 400 roster.bad_file", name, code, b)
		}
	}
	code, b, h := e.raw(t, e.user[viewer1], "GET", path+"/template.xlsx", "", nil, nil)
	if code != 200 || h.Get("Content-Type") != xlsxType || !strings.Contains(h.Get("Content-Disposition"), "filename*=utf-8''") {
		t.Fatalf("template: %d %q %q", code, h.Get("Content-Type"), h.Get("Content-Disposition"))
	}
	f, err := excelize.OpenReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := f.GetRows(f.GetSheetName(0))
	if err != nil || len(rows) != 1 || strings.Join(rows[0], ",") != "户主,户号,姓名,身份证后四位,所属村民小组,联系电话" {
		t.Errorf("the template's rows %q, %v", rows, err)
	}
}

// TestRosterEdits: a person is added without an id, edited, moved and
// marked deceased, who is then not offered for a new entry; every change
// is in the audit trail, phone numbers masked.
func TestRosterEdits(t *testing.T) {
	e := newListsEnv(t)
	base := "/api/v1/villages/village-1/"
	e.do(t, operator1, "POST", base+"households", `{"id":"h01","head":"张大山","group":"一组"}`, 201, nil)
	e.do(t, operator1, "POST", base+"households", `{"id":"h02","head":"李秀英"}`, 201, nil)
	var p lists.PersonView
	e.do(t, operator1, "POST", base+"persons", `{"name":"张小明","household":"h01","phone":"138-1234-5678","id_last4":"123x"}`, 201, &p)
	if p.ID != "h01-1" || p.Phone != "138****5678" || p.IDLast4 != "****" || !p.Masked || p.Status != store.PersonActive {
		t.Fatalf("created %+v", p)
	}
	e.do(t, operator1, "GET", base+"persons/h01-1?reveal=true", "", 200, &p)
	if p.Phone != "13812345678" || p.IDLast4 != "123X" {
		t.Errorf("stored as %+v", p)
	}
	e.do(t, operator1, "PUT", base+"persons/h01-1", `{"household":"h02"}`, 200, &p)
	if p.Household != "h02" {
		t.Errorf("moved %+v", p)
	}
	e.do(t, operator1, "PUT", base+"households/h02", `{"group":"二组"}`, 200, nil)
	e.do(t, operator1, "PUT", base+"persons/h01-1", `{"status":"deceased"}`, 200, &p)
	if p.Status != store.PersonDeceased {
		t.Errorf("marked %+v", p)
	}
	for _, c := range []struct{ path, body string }{
		{"persons/h01-1", `{"status":"gone"}`},
		{"persons/h01-1", `{"household":"h99"}`},
		{"persons/h01-1", `{"phone":"abc"}`},
		{"households/h01", `{"head":""}`},
	} {
		if code := e.call(t, e.user[operator1], "PUT", base+c.path, c.body, nil); code != 400 {
			t.Errorf("PUT %s %s: %d, want 400", c.path, c.body, code)
		}
	}
	if code := e.call(t, e.user[viewer1], "PUT", base+"persons/h01-1", `{"name":"x"}`, nil); code != 403 {
		t.Errorf("a viewer's edit: %d, want 403", code)
	}
	body := `{"kind":"red","subject":{"kind":"person","id":"h01-1"},"category":"孝老爱亲","reason":"照顾老人","period":"2026-11"}`
	if code := e.call(t, e.user[operator1], "POST", base+"entries", body, nil); code != 400 {
		t.Errorf("an entry about a deceased person: %d, want 400", code)
	}
	var acts []string
	for _, r := range e.auditActions(t, "village-1") {
		acts = append(acts, r.Action)
		if strings.Contains(string(r.After)+string(r.Before), "13812345678") {
			t.Errorf("the audit record %s holds the phone number", r.Action)
		}
	}
	if got := strings.Join(acts, " "); got != "household.create household.create person.create person.move household.update person.update" {
		t.Errorf("audit trail: %s", got)
	}
}
