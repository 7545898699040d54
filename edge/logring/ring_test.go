package logring

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
)

func newRing(t *testing.T, cfg Config) *Ring {
	t.Helper()
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestTheRingKeepsTheLatestLinesAndPassesEveryRecordOn(t *testing.T) {
	r := newRing(t, Config{Lines: 3, Level: slog.LevelInfo})
	var journal bytes.Buffer
	log := slog.New(r.Handler(slog.NewTextHandler(&journal, &slog.HandlerOptions{Level: slog.LevelWarn})))
	log = log.With("component", "edge")
	for i := range 5 {
		log.Info("reading", "n", i)
	}
	log.Debug("below both levels")
	log.Warn("disk low", "box_id", "village-1")

	s := r.Lines(slog.LevelDebug, 0, 0)
	if len(s.Lines) != 3 || s.Lost != 3 || s.Truncated {
		t.Fatalf("snapshot %+v, want the latest 3 of 6 lines", s)
	}
	for i, want := range []string{"msg=reading component=edge n=3", "msg=reading component=edge n=4", "level=WARN msg=\"disk low\" component=edge box_id=village-1"} {
		if !strings.Contains(s.Lines[i], want) {
			t.Errorf("line %d = %q, want it to hold %q", i, s.Lines[i], want)
		}
	}
	if strings.Contains(journal.String(), "reading") || !strings.Contains(journal.String(), "disk low") {
		t.Errorf("the journal, at warn, got %q", journal.String())
	}
	if s.Since.IsZero() {
		t.Error("no time for the oldest line")
	}
	if w := r.Lines(slog.LevelWarn, 0, 0); len(w.Lines) != 1 || !strings.Contains(w.Lines[0], "disk low") {
		t.Errorf("at warn: %+v", w)
	}
}

func TestTheRingKeepsWhatTheJournalLeavesOutAndNotTheReverse(t *testing.T) {
	r := newRing(t, Config{Level: slog.LevelWarn})
	var journal bytes.Buffer
	log := slog.New(r.Handler(slog.NewTextHandler(&journal, &slog.HandlerOptions{Level: slog.LevelDebug})))
	log.Debug("packet")
	log.Error("speaker gone", "speaker_id", "horn-1")
	if s := r.Lines(slog.LevelDebug, 0, 0); len(s.Lines) != 1 || !strings.Contains(s.Lines[0], "speaker gone") {
		t.Errorf("ring at warn holds %q", s.Lines)
	}
	if !strings.Contains(journal.String(), "packet") {
		t.Errorf("the journal, at debug, lost the debug line: %q", journal.String())
	}
}

func TestTheRingStaysWithinItsBytesAndAnswersWithinTheirs(t *testing.T) {
	r := newRing(t, Config{Lines: 1000, Bytes: 4096})
	log := slog.New(r.Handler(slog.DiscardHandler))
	for i := range 200 {
		log.Info(strings.Repeat("x", 100), "n", i)
	}
	s := r.Lines(slog.LevelInfo, 0, 0)
	size := 0
	for _, l := range s.Lines {
		size += len(l)
	}
	if size > 4096 || len(s.Lines) == 0 || s.Lost == 0 {
		t.Fatalf("%d lines of %d bytes, %d lost: over the 4096-byte bound, or nothing let go", len(s.Lines), size, s.Lost)
	}
	if !strings.HasSuffix(s.Lines[len(s.Lines)-1], "n=199") {
		t.Errorf("the newest line is %q", s.Lines[len(s.Lines)-1])
	}
	few := r.Lines(slog.LevelInfo, 0, 1000)
	if !few.Truncated || len(few.Lines) == 0 || len(few.Lines) >= len(s.Lines) {
		t.Errorf("within 1000 bytes: %d lines, truncated %v", len(few.Lines), few.Truncated)
	}
	if two := r.Lines(slog.LevelInfo, 2, 0); len(two.Lines) != 2 || !two.Truncated || !strings.HasSuffix(two.Lines[1], "n=199") {
		t.Errorf("the latest 2: %+v", two)
	}
}

func TestALongLineIsCut(t *testing.T) {
	r := newRing(t, Config{})
	slog.New(r.Handler(slog.DiscardHandler)).Info(strings.Repeat("长", MaxLine))
	l := r.Lines(slog.LevelInfo, 0, 0).Lines[0]
	if len(l) > MaxLine || !strings.HasSuffix(l, "…") || !strings.HasPrefix(l, "time=") {
		t.Errorf("a %d-byte line: %q…", len(l), l[:40])
	}
}

func TestConcurrentLoggersKeepWholeLines(t *testing.T) {
	r := newRing(t, Config{Lines: 10_000})
	log := slog.New(r.Handler(slog.DiscardHandler))
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			l := log.With("g", g)
			for i := range 100 {
				l.Info("tick", "i", i)
			}
		})
	}
	wg.Wait()
	s := r.Lines(slog.LevelInfo, 0, 0)
	if len(s.Lines) != 800 {
		t.Fatalf("%d lines, want 800", len(s.Lines))
	}
	for _, l := range s.Lines {
		if strings.Count(l, "msg=tick") != 1 || strings.Contains(l, "\n") {
			t.Fatalf("a torn line: %q", l)
		}
	}
}

func TestNewRefusesBadBounds(t *testing.T) {
	for _, c := range []Config{{Lines: -1}, {Bytes: 10}, {Lines: 1 << 20}} {
		if _, err := New(c); err == nil {
			t.Errorf("New(%+v) accepted", c)
		}
	}
}

func BenchmarkLogLine(b *testing.B) {
	r, _ := New(Config{})
	log := slog.New(r.Handler(slog.DiscardHandler)).With("component", "playout")
	b.ReportAllocs()
	for i := range b.N {
		log.Info("played", "item", fmt.Sprint(i), "speaker_id", "horn-1")
	}
}
