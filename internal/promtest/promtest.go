// Package promtest is test plumbing for the daemons' Prometheus metrics:
// it scrapes an endpoint and reads the text with Prometheus's own parser
// (expfmt), and holds a package's documented list of metrics (its doc.go
// table) to what a scrape shows. Only tests import it.
package promtest

import (
	"bufio"
	"io"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Families parses a text exposition.
func Families(t testing.TB, r io.Reader) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		t.Fatalf("the exposition does not parse: %v", err)
	}
	return fams
}

// Scrape GETs url with the bearer token (none when empty), wants 200 and
// the text format, and parses what it got.
func Scrape(t testing.TB, url, token string) map[string]*dto.MetricFamily {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("scrape %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
		t.Fatalf("scrape %s: %s: %s", url, resp.Status, b)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("scrape %s: content type %q, want the text format", url, ct)
	}
	return Families(t, resp.Body)
}

// Doc is one documented metric.
type Doc struct {
	Name   string
	Labels []string // sorted
	Type   string   // gauge, counter, histogram
}

// docLine is a table row of a doc.go: "//	name{a,b}   type   what".
var docLine = regexp.MustCompile(`^//\s+([a-z_:][a-z0-9_:]*)(?:\{([a-z_,]*)\})?\s+(gauge|counter|histogram)\s+\S`)

// ReadDoc reads the documented metrics whose names start with prefix
// from the comment table of the Go file at path.
func ReadDoc(t testing.TB, path, prefix string) map[string]Doc {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]Doc{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		m := docLine.FindStringSubmatch(sc.Text())
		if m == nil || !strings.HasPrefix(m[1], prefix) {
			continue
		}
		d := Doc{Name: m[1], Type: m[3]}
		if m[2] != "" {
			d.Labels = strings.Split(m[2], ",")
			slices.Sort(d.Labels)
		}
		out[d.Name] = d
	}
	if len(out) == 0 {
		t.Fatalf("%s documents no metric named %s…", path, prefix)
	}
	return out
}

// CheckDoc fails t for each family named with prefix that doc does not
// list with its type and labels, and for each listed metric the scrape
// lacks.
func CheckDoc(t testing.TB, fams map[string]*dto.MetricFamily, doc map[string]Doc, prefix string) {
	t.Helper()
	CheckServed(t, fams, doc, prefix)
	for name := range doc {
		if _, ok := fams[name]; !ok {
			t.Errorf("%s is documented but not served", name)
		}
	}
}

// CheckServed fails t for each family named with prefix that doc does not
// list with its type and labels: for a daemon whose scrape shows only
// what it has (a box without cameras has no camera series).
func CheckServed(t testing.TB, fams map[string]*dto.MetricFamily, doc map[string]Doc, prefix string) {
	t.Helper()
	for name, fam := range fams {
		if !strings.HasPrefix(name, prefix) {
			continue
		}
		d, ok := doc[name]
		if !ok {
			t.Errorf("%s is served but not documented", name)
			continue
		}
		if typ := strings.ToLower(fam.GetType().String()); typ != d.Type {
			t.Errorf("%s is a %s, documented as a %s", name, typ, d.Type)
		}
		for _, m := range fam.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName())
			}
			slices.Sort(labels)
			if !slices.Equal(labels, d.Labels) {
				t.Errorf("%s has labels %v, documented %v", name, labels, d.Labels)
				break
			}
		}
	}
}

// Value is the value of name's series whose labels include want (nil:
// the first series), and whether there is one.
func Value(fams map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	fam, ok := fams[name]
	if !ok {
		return 0, false
	}
	for _, m := range fam.GetMetric() {
		match := true
		for k, v := range want {
			found := false
			for _, l := range m.GetLabel() {
				if l.GetName() == k && l.GetValue() == v {
					found = true
				}
			}
			match = match && found
		}
		if !match {
			continue
		}
		switch {
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount()), true
		}
	}
	return 0, false
}
