package metrics

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/dalaba/dalaba/internal/promtest"
)

// The Grafana dashboard in configs/grafana queries only metrics the two
// daemons document (so serve): a renamed metric cannot leave a panel
// empty unnoticed.
func TestTheDashboardQueriesDocumentedMetrics(t *testing.T) {
	b, err := os.ReadFile("../../configs/grafana/dalaba.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string
			Type    string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("the dashboard is not JSON: %v", err)
	}
	doc := promtest.ReadDoc(t, "doc.go", "dalaba_cloud_")
	for n, d := range promtest.ReadDoc(t, "../../edge/metrics/doc.go", "dalaba_edge_") {
		doc[n] = d
	}
	name := regexp.MustCompile(`dalaba_(?:cloud|edge)_[a-z_]+`)
	used := map[string]bool{}
	for _, p := range dash.Panels {
		if p.Type != "row" && len(p.Targets) == 0 {
			t.Errorf("panel %q queries nothing", p.Title)
		}
		for _, tg := range p.Targets {
			for _, m := range name.FindAllString(tg.Expr, -1) {
				base := m
				for _, suffix := range []string{"_bucket", "_sum", "_count"} {
					if d, ok := doc[strings.TrimSuffix(m, suffix)]; ok && d.Type == "histogram" {
						base = strings.TrimSuffix(m, suffix)
					}
				}
				if _, ok := doc[base]; !ok {
					t.Errorf("panel %q queries %s, which no daemon documents", p.Title, m)
				}
				used[base] = true
			}
		}
	}
	if len(used) < 20 {
		t.Errorf("the dashboard uses %d metrics; it shows little of what is served", len(used))
	}
}
