package protocol

import (
	"strings"
	"testing"
)

func TestDiagArgs(t *testing.T) {
	for _, c := range []struct {
		name string
		err  error
		want string // "" = valid
	}{
		{"the defaults", DiagLogsArgs{}.Validate(), ""},
		{"the most lines, at warn", DiagLogsArgs{Lines: MaxDiagLines, Level: "warn"}.Validate(), ""},
		{"too many lines", DiagLogsArgs{Lines: MaxDiagLines + 1}.Validate(), "lines"},
		{"negative lines", DiagLogsArgs{Lines: -1}.Validate(), "lines"},
		{"a made-up level", DiagLogsArgs{Level: "trace"}.Validate(), "level"},
		{"a reason", DiagRestartArgs{Reason: "stuck"}.Validate(), ""},
		{"a long reason", DiagRestartArgs{Reason: strings.Repeat("x", MaxNameLen+1)}.Validate(), "reason"},
	} {
		switch {
		case c.want == "" && c.err != nil:
			t.Errorf("%s: refused: %v", c.name, c.err)
		case c.want != "" && (c.err == nil || !strings.Contains(c.err.Error(), c.want)):
			t.Errorf("%s: %v, want an error naming %s", c.name, c.err, c.want)
		}
	}
	// A diagnostics answer at its bound still fits a command result.
	data := `{"yaml":"` + strings.Repeat("x", MaxDiagData-12) + `"}`
	if _, err := Marshal(KindCmdResult, CommandResult{V: 1, ID: "c-1", BoxID: "v1", OK: true, Data: []byte(data)}); err != nil {
		t.Errorf("a %d-byte answer: %v", len(data), err)
	}
}
