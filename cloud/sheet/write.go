package sheet

import (
	"fmt"
	"io"
	"unicode/utf8"

	"github.com/xuri/excelize/v2"
)

// Table is one sheet of a workbook: its name (a tab, at most 31
// characters), the header row and the rows. A cell is a string, an int or
// int64 (a number in the sheet), a float64, or nil (empty).
type Table struct {
	Name   string
	Header []string
	Rows   [][]any
}

// Write writes tables as one .xlsx workbook to w, in order, each on its
// own sheet: the header in bold and frozen, columns as wide as their
// header and first rows need.
func Write(w io.Writer, tables ...Table) error {
	if len(tables) == 0 {
		return fmt.Errorf("sheet: write: no tables")
	}
	f := excelize.NewFile()
	defer f.Close()
	bold, err := f.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true}, Fill: excelize.Fill{Type: "pattern", Pattern: 1, Color: []string{"EDEFF2"}}})
	if err != nil {
		return fmt.Errorf("sheet: write: style: %w", err)
	}
	first := f.GetSheetName(0)
	for i, t := range tables {
		if i == 0 {
			if err := f.SetSheetName(first, t.Name); err != nil {
				return fmt.Errorf("sheet: write: sheet %q: %w", t.Name, err)
			}
		} else if _, err := f.NewSheet(t.Name); err != nil {
			return fmt.Errorf("sheet: write: sheet %q: %w", t.Name, err)
		}
		if err := writeTable(f, t, bold); err != nil {
			return fmt.Errorf("sheet: write: sheet %q: %w", t.Name, err)
		}
	}
	// The first sheet is the active one already: setting it again would
	// make excelize read the streamed sheets back into memory.
	if _, err := f.WriteTo(w); err != nil {
		return fmt.Errorf("sheet: write: %w", err)
	}
	return nil
}

// widthRows are the rows columns are sized by: enough to see the usual
// width without measuring ten thousand lines.
const widthRows = 200

func writeTable(f *excelize.File, t Table, bold int) error {
	sw, err := f.NewStreamWriter(t.Name)
	if err != nil {
		return err
	}
	widths := make([]int, len(t.Header))
	measure := func(i int, v any) {
		for i >= len(widths) {
			widths = append(widths, 0)
		}
		n := 0
		switch x := v.(type) {
		case string:
			n = displayWidth(x)
		case nil:
		default:
			n = len(fmt.Sprint(x))
		}
		widths[i] = max(widths[i], n)
	}
	for i, h := range t.Header {
		measure(i, h)
	}
	for _, row := range t.Rows[:min(len(t.Rows), widthRows)] {
		for i, v := range row {
			measure(i, v)
		}
	}
	for i, w := range widths {
		if err := sw.SetColWidth(i+1, i+1, float64(min(max(w+2, 6), 60))); err != nil {
			return err
		}
	}
	if err := sw.SetPanes(&excelize.Panes{Freeze: true, YSplit: 1, TopLeftCell: "A2", ActivePane: "bottomLeft"}); err != nil {
		return err
	}
	head := make([]any, len(t.Header))
	for i, h := range t.Header {
		head[i] = excelize.Cell{StyleID: bold, Value: h}
	}
	if err := sw.SetRow("A1", head); err != nil {
		return err
	}
	for i, row := range t.Rows {
		cell, err := excelize.CoordinatesToCellName(1, i+2)
		if err != nil {
			return err
		}
		if err := sw.SetRow(cell, row); err != nil {
			return err
		}
	}
	return sw.Flush()
}

// displayWidth counts a wide (CJK) character as two columns.
func displayWidth(s string) int {
	n := 0
	for _, r := range s {
		if r >= 0x1100 && utf8.RuneLen(r) > 2 {
			n += 2
		} else {
			n++
		}
	}
	return n
}
