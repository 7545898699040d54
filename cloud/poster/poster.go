package poster

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"html/template"
	"io"
	"strings"
	"time"
)

// Entry is one line of a list.
type Entry struct {
	Name      string // the person, e.g. "张三"
	Household string // the household, e.g. "三组12号"; "" = not shown
	Category  string // e.g. "孝老爱亲"
	Reason    string // what was done
	Points    int    // positive for red, usually negative for black
	Notice    bool   // on public notice (公示), not yet final
}

// Data is one poster.
type Data struct {
	Township string
	Village  string
	Period   string // as printed, e.g. "2026年11月"
	Red      []Entry
	Black    []Entry
	Issued   time.Time // printed as a date in its own location
	Size     string    // paper: "A4" (default) or "A3", portrait
	// NoticeEnds is when the entries marked Notice become final; zero
	// when none is on notice.
	NoticeEnds time.Time
}

// ErrBadData wraps every refusal of Data.
var ErrBadData = errors.New("poster: bad data")

// CSP is the Content-Security-Policy to serve a poster with: it is one
// self-contained page with its CSS inline, no script and no resource from
// anywhere, so nothing is allowed but its own style.
const CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

//go:embed poster.html.tmpl
var pageText string

// page is parsed on each Render rather than kept in a package variable (no
// package state): parsing is cheap next to printing a poster once a month.
func page() (*template.Template, error) {
	return template.New("poster").Funcs(template.FuncMap{
		"points": points,
	}).Parse(pageText)
}

// Render writes d as one HTML page. Nothing is written if d is refused or
// the template fails, so w never holds half a poster.
func Render(w io.Writer, d Data) error {
	size, err := check(d)
	if err != nil {
		return err
	}
	t, err := page()
	if err != nil {
		return fmt.Errorf("poster: parse template: %w", err)
	}
	issued := ""
	if !d.Issued.IsZero() {
		issued = d.Issued.Format("2006年1月2日")
	}
	var b bytes.Buffer
	err = t.Execute(&b, view{
		Title:    strings.Join(nonEmpty(d.Village, d.Period, "红黑榜"), " "),
		Township: d.Township,
		Red:      d.Red,
		Black:    d.Black,
		Issued:   issued,
		Size:     size,
		Notice:   noticeText(d.NoticeEnds),
	})
	if err != nil {
		return fmt.Errorf("poster: render: %w", err)
	}
	if _, err := w.Write(b.Bytes()); err != nil {
		return fmt.Errorf("poster: write: %w", err)
	}
	return nil
}

// view is what the template sees.
type view struct {
	Title, Township string
	Red, Black      []Entry
	Issued          string
	Size            string // "A4" or "A3", trusted: checked against a list
	Notice          string // the public notice's sentence; "" for none
}

// noticeText is the sentence above a list with entries on public notice.
func noticeText(ends time.Time) string {
	if ends.IsZero() {
		return ""
	}
	return "标有“公示”的条目正在公示，公示期至 " + ends.Format("2006年1月2日 15:04") + "。如有异议，请向村委会反映。"
}

// check validates d and returns the paper size.
func check(d Data) (string, error) {
	var errs []error
	size := d.Size
	switch size {
	case "":
		size = "A4"
	case "A4", "A3":
	default:
		errs = append(errs, fmt.Errorf("%w: size %q: want A4 or A3", ErrBadData, d.Size))
	}
	if strings.TrimSpace(d.Village) == "" {
		errs = append(errs, fmt.Errorf("%w: village is empty", ErrBadData))
	}
	if strings.TrimSpace(d.Period) == "" {
		errs = append(errs, fmt.Errorf("%w: period is empty", ErrBadData))
	}
	for list, entries := range map[string][]Entry{"red": d.Red, "black": d.Black} {
		for i, e := range entries {
			if strings.TrimSpace(e.Name) == "" {
				errs = append(errs, fmt.Errorf("%w: %s entry %d has no name", ErrBadData, list, i+1))
			}
		}
	}
	return size, errors.Join(errs...)
}

// points prints a score with its sign, as boards show it: "+5", "-3", "0".
func points(n int) string {
	if n > 0 {
		return fmt.Sprintf("+%d", n)
	}
	return fmt.Sprint(n)
}

func nonEmpty(ss ...string) []string {
	out := ss[:0:0]
	for _, s := range ss {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}
