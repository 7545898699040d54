package sheet

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/xuri/excelize/v2"
	"golang.org/x/text/encoding/simplifiedchinese"
)

// ErrUnreadable marks a file that is neither a workbook nor CSV text in
// UTF-8 or GBK, or is over the size given.
var ErrUnreadable = errors.New("sheet: unreadable")

// Limits of what Read unpacks: a village roster is a few hundred
// kilobytes, and a workbook is a zip whose parts must not be allowed to
// unpack into all of memory.
const (
	maxUnzip    = 64 << 20
	maxUnzipXML = 32 << 20
)

// zipMagic starts every .xlsx (a zip archive).
var zipMagic = []byte("PK\x03\x04")

// utf8BOM starts some UTF-8 CSV files (Excel's "CSV UTF-8").
var utf8BOM = []byte("\xEF\xBB\xBF")

// Read returns the rows of the first sheet of an .xlsx workbook, or of a
// CSV file, reading at most maxBytes. Rows keep their place (an empty row
// is an empty slice), so a row's index plus one is its number in the
// file. CSV is UTF-8 (with or without a BOM) when it is valid UTF-8, else
// GBK; a file that is neither is ErrUnreadable.
func Read(r io.Reader, maxBytes int64) ([][]string, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("sheet: read: %w", err)
	}
	if int64(len(b)) > maxBytes {
		return nil, fmt.Errorf("%w: the file is over %d bytes", ErrUnreadable, maxBytes)
	}
	if bytes.HasPrefix(b, zipMagic) {
		return readXLSX(b)
	}
	return readCSV(b)
}

func readXLSX(b []byte) ([][]string, error) {
	f, err := excelize.OpenReader(bytes.NewReader(b), excelize.Options{UnzipSizeLimit: maxUnzip, UnzipXMLSizeLimit: maxUnzipXML})
	if err != nil {
		return nil, fmt.Errorf("%w: not a workbook excelize can open: %w", ErrUnreadable, err)
	}
	defer f.Close()
	sheets := f.GetSheetList()
	if len(sheets) == 0 {
		return nil, fmt.Errorf("%w: the workbook has no sheet", ErrUnreadable)
	}
	rows, err := f.GetRows(sheets[0])
	if err != nil {
		return nil, fmt.Errorf("%w: sheet %q: %w", ErrUnreadable, sheets[0], err)
	}
	return rows, nil
}

// Encoding names the text encoding a CSV file was read in.
func Encoding(b []byte) string {
	if utf8.Valid(b) {
		return "UTF-8"
	}
	return "GBK"
}

func readCSV(b []byte) ([][]string, error) {
	text := b
	if utf8.Valid(b) {
		text = bytes.TrimPrefix(b, utf8BOM)
	} else {
		var err error
		text, err = simplifiedchinese.GBK.NewDecoder().Bytes(b)
		if err != nil || bytes.ContainsRune(text, utf8.RuneError) {
			return nil, fmt.Errorf("%w: the text is neither UTF-8 nor GBK", ErrUnreadable)
		}
	}
	if bytes.IndexByte(text, 0) >= 0 {
		return nil, fmt.Errorf("%w: not a text file", ErrUnreadable)
	}
	cr := csv.NewReader(bytes.NewReader(text))
	cr.FieldsPerRecord = -1
	cr.LazyQuotes = true
	cr.ReuseRecord = false
	var rows [][]string
	line := 1
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return rows, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%w: CSV: %w", ErrUnreadable, err)
		}
		// encoding/csv skips empty lines; keep every row at its number.
		start, _ := cr.FieldPos(0)
		for ; line < start; line++ {
			rows = append(rows, nil)
		}
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			rec = nil
		}
		rows = append(rows, rec)
		line = start + 1
		if n := strings.Count(strings.Join(rec, ""), "\n"); n > 0 {
			line += n // a quoted field ran over lines
		}
	}
}
