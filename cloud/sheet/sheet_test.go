package sheet

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"
	"golang.org/x/text/encoding/simplifiedchinese"
)

func gbk(t testing.TB, s string) []byte {
	t.Helper()
	b, err := simplifiedchinese.GBK.NewEncoder().Bytes([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

const roster = "户主,户号,姓名,身份证后四位,所属村民小组,联系电话\n张三,001,张三,123X,一组,13812345678\n\n张三,001,\"李,四\",,一组,\n"

var wantRoster = [][]string{
	{"户主", "户号", "姓名", "身份证后四位", "所属村民小组", "联系电话"},
	{"张三", "001", "张三", "123X", "一组", "13812345678"},
	nil,
	{"张三", "001", "李,四", "", "一组", ""},
}

func TestReadCSVInEveryEncoding(t *testing.T) {
	for name, b := range map[string][]byte{
		"UTF-8":            []byte(roster),
		"UTF-8 with a BOM": append([]byte("\xEF\xBB\xBF"), roster...),
		"GBK":              gbk(t, roster),
		"CRLF":             []byte(strings.ReplaceAll(roster, "\n", "\r\n")),
	} {
		t.Run(name, func(t *testing.T) {
			rows, err := Read(bytes.NewReader(b), 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(rows, wantRoster) {
				t.Fatalf("rows %q\nwant %q", rows, wantRoster)
			}
		})
	}
	if Encoding(gbk(t, roster)) != "GBK" || Encoding([]byte(roster)) != "UTF-8" {
		t.Error("Encoding does not tell GBK from UTF-8")
	}
}

func TestReadWhatWriteWrote(t *testing.T) {
	var buf bytes.Buffer
	err := Write(&buf,
		Table{Name: "名册", Header: wantRoster[0], Rows: [][]any{{"张三", "001", "张三", "123X", "一组", "13812345678"}, {"王五", "002", "王五", nil, "二组", 7}}},
		Table{Name: "说明", Header: []string{"说明"}, Rows: [][]any{{"第二张表"}}},
	)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := Read(bytes.NewReader(buf.Bytes()), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{wantRoster[0], {"张三", "001", "张三", "123X", "一组", "13812345678"}, {"王五", "002", "王五", "", "二组", "7"}}
	if !reflect.DeepEqual(rows, want) {
		t.Fatalf("rows %q\nwant %q", rows, want)
	}
	f, err := excelize.OpenReader(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if got := f.GetSheetList(); !reflect.DeepEqual(got, []string{"名册", "说明"}) {
		t.Errorf("sheets %q", got)
	}
	if typ, _ := f.GetCellType("名册", "F3"); typ != excelize.CellTypeNumber && typ != excelize.CellTypeUnset {
		t.Errorf("an int cell is of type %v, want a number", typ)
	}
	if panes, err := f.GetPanes("名册"); err != nil || !panes.Freeze || panes.YSplit != 1 {
		t.Errorf("the header is not frozen: %+v, %v", panes, err)
	}
}

func TestReadRefuses(t *testing.T) {
	cases := map[string][]byte{
		"a zip that is no workbook": []byte("PK\x03\x04garbage"),
		"binary":                    {0x00, 0x01, 0x02, 0xff, 0xfe, 0x00},
		"neither UTF-8 nor GBK":     {0x81, 0x20, 0x81, 0x20},
		"too large":                 []byte(strings.Repeat("a,b\n", 100)),
	}
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			if rows, err := Read(bytes.NewReader(b), 200); !errors.Is(err, ErrUnreadable) {
				t.Fatalf("Read = %q, %v; want ErrUnreadable", rows, err)
			}
		})
	}
	if err := Write(&bytes.Buffer{}); err == nil {
		t.Error("a workbook of no tables was written")
	}
}

// FuzzRead: any bytes are rows or ErrUnreadable, never a panic.
func FuzzRead(f *testing.F) {
	f.Add([]byte(roster))
	f.Add(gbk(f, roster))
	f.Add([]byte("PK\x03\x04"))
	f.Add([]byte("\"unterminated,\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		rows, err := Read(bytes.NewReader(b), 1<<16)
		if err != nil && !errors.Is(err, ErrUnreadable) {
			t.Fatalf("Read: %v, not ErrUnreadable", err)
		}
		if err == nil && rows == nil && len(bytes.TrimSpace(b)) > 0 && !bytes.Equal(bytes.TrimSpace(b), []byte("\xEF\xBB\xBF")) {
			t.Fatalf("no rows and no error for %q", b)
		}
	})
}
