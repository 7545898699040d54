package web

import (
	"bufio"
	"context"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// quietSpeech stands in for a TTS engine where no test speaks: with it the
// server registers the speech route.
type quietSpeech struct{}

func (quietSpeech) Synthesize(context.Context, string) ([]byte, error) { return nil, errSpeech }

// docLines are the lines of doc.go's comment matching re, as submatches.
func docLines(t *testing.T, re *regexp.Regexp) [][]string {
	t.Helper()
	f, err := os.Open("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out [][]string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if m := re.FindStringSubmatch(sc.Text()); m != nil {
			out = append(out, m)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestEveryRouteDocumented holds doc.go's route table to the mux: every
// route the server registers (with every optional part on) is a line of
// the table, and every line of the table is a registered pattern.
func TestEveryRouteDocumented(t *testing.T) {
	e := newListsEnvWith(t, quietSpeech{})
	served := map[string]bool{}
	for _, rt := range e.api.Routes() {
		served[strings.Join(strings.Fields(rt.Pattern), " ")] = true
	}
	if len(served) < 50 {
		t.Fatalf("only %d routes registered; the server did not register them all", len(served))
	}
	documented := map[string]bool{}
	for _, m := range docLines(t, regexp.MustCompile(`^//\t(GET|POST|PUT|DELETE) +(/\S*)`)) {
		route := m[1] + " " + m[2]
		if documented[route] {
			t.Errorf("doc.go lists %s twice", route)
		}
		documented[route] = true
	}
	var missing, extra []string
	for r := range served {
		if !documented[r] {
			missing = append(missing, r)
		}
	}
	for r := range documented {
		if !served[r] {
			extra = append(extra, r)
		}
	}
	slices.Sort(missing)
	slices.Sort(extra)
	for _, r := range missing {
		t.Errorf("%s is served but not in doc.go's route table", r)
	}
	for _, r := range extra {
		t.Errorf("%s is in doc.go's route table but not served", r)
	}
}

// TestEveryCodeDocumented holds doc.go's table of error codes to the
// code table: each code once, with its status.
func TestEveryCodeDocumented(t *testing.T) {
	documented := map[Code]int{}
	for _, m := range docLines(t, regexp.MustCompile(`^//\t([a-z_]+(?:\.[a-z_]+)?) +(\d{3}) `)) {
		c := Code(m[1])
		if _, dup := documented[c]; dup {
			t.Errorf("doc.go lists %s twice", c)
		}
		documented[c], _ = strconv.Atoi(m[2])
	}
	for c, status := range Codes() {
		if got, ok := documented[c]; !ok {
			t.Errorf("code %s is not in doc.go", c)
		} else if got != status {
			t.Errorf("doc.go gives %s status %d, the table %d", c, got, status)
		}
	}
	for c := range documented {
		if _, ok := Codes()[c]; !ok {
			t.Errorf("doc.go lists %s, which is not a code", c)
		}
	}
}
