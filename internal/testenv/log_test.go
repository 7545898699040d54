package testenv

import (
	"log/slog"
	"strings"
	"testing"
)

func TestLoggerWritesTextLinesFromItsLevel(t *testing.T) {
	for _, c := range []struct {
		name   string
		level  slog.Level
		debugs bool
	}{
		{"info", slog.LevelInfo, false},
		{"debug", slog.LevelDebug, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			rec := newRecorder(t)
			log := Logger(rec, c.level)
			log.Debug("packet in", "seq", 7)
			log.Info("camera up", "camera_id", "cam1")
			out := rec.out.String()
			if !strings.Contains(out, `level=INFO msg="camera up" camera_id=cam1`+"\n") {
				t.Errorf("no info line in %q", out)
			}
			if got := strings.Contains(out, `level=DEBUG msg="packet in" seq=7`); got != c.debugs {
				t.Errorf("debug line written: %v; want %v (output %q)", got, c.debugs, out)
			}
		})
	}
}

func TestEnvLoggerSpeaksOnlyWhenAsked(t *testing.T) {
	const env = "DALABA_TESTENV_TEST_LOG"
	t.Setenv(env, "")
	if EnvLogger(env).Enabled(t.Context(), slog.LevelError) {
		t.Errorf("without %s an error record is written; want everything discarded", env)
	}
	t.Setenv(env, "1")
	if !EnvLogger(env).Enabled(t.Context(), slog.LevelDebug) {
		t.Errorf("with %s=1 a debug record is dropped; want everything written", env)
	}
}
