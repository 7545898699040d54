package logging

import (
	"bytes"
	"strings"
	"testing"
)

func TestValidateAndNew(t *testing.T) {
	if errs := Default().Validate(); len(errs) != 0 {
		t.Fatalf("default invalid: %v", errs)
	}
	if errs := (Config{Level: "loud", Format: "xml"}).Validate(); len(errs) != 2 {
		t.Fatalf("want 2 errors, got %v", errs)
	}
	var buf bytes.Buffer
	log := Config{Level: "warn", Format: "json"}.New(&buf)
	log.Info("hidden")
	log.Warn("shown", "box_id", "v1")
	if out := buf.String(); strings.Contains(out, "hidden") || !strings.Contains(out, `"box_id":"v1"`) {
		t.Fatalf("output %q", out)
	}
}
