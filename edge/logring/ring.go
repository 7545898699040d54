package logring

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// Defaults of Config.
const (
	DefaultLines = 2000
	DefaultBytes = 512 << 10
	// MaxLine bounds one line; a longer one is cut, marked "…".
	MaxLine = 2 << 10
)

// Config bounds the ring.
type Config struct {
	Lines int        // at most this many lines; 0 = DefaultLines
	Bytes int        // and at most this many bytes of them; 0 = DefaultBytes
	Level slog.Level // the least level kept
}

// Ring holds the latest lines. Make it with New; it is safe for concurrent
// use.
type Ring struct {
	cfg Config

	mu    sync.Mutex
	lines []line // a circular buffer of cfg.Lines slots
	head  int    // the oldest line's slot
	n     int    // lines held
	bytes int    // their bytes
	lost  uint64 // lines let go to stay within the bounds
}

type line struct {
	at    time.Time
	level slog.Level
	text  string
}

// New checks cfg and makes an empty ring.
func New(cfg Config) (*Ring, error) {
	if cfg.Lines == 0 {
		cfg.Lines = DefaultLines
	}
	if cfg.Bytes == 0 {
		cfg.Bytes = DefaultBytes
	}
	var errs []error
	if cfg.Lines < 1 || cfg.Lines > 100_000 {
		errs = append(errs, fmt.Errorf("logring: lines %d: 1 to 100000", cfg.Lines))
	}
	if cfg.Bytes < MaxLine || cfg.Bytes > 64<<20 {
		errs = append(errs, fmt.Errorf("logring: bytes %d: %d to %d", cfg.Bytes, MaxLine, 64<<20))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &Ring{cfg: cfg, lines: make([]line, cfg.Lines)}, nil
}

// add appends a line, letting the oldest go as the bounds require.
func (r *Ring) add(l line) {
	if len(l.text) > MaxLine {
		l.text = cut(l.text, MaxLine)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for r.n > 0 && (r.n == len(r.lines) || r.bytes+len(l.text) > r.cfg.Bytes) {
		r.bytes -= len(r.lines[r.head].text)
		r.lines[r.head] = line{}
		r.head = (r.head + 1) % len(r.lines)
		r.n--
		r.lost++
	}
	r.lines[(r.head+r.n)%len(r.lines)] = l
	r.n++
	r.bytes += len(l.text)
}

// Snapshot is what Lines found.
type Snapshot struct {
	Lines []string // oldest first
	// Truncated: more lines matched than were returned; the oldest were
	// left out.
	Truncated bool
	Lost      uint64    // lines the ring let go since it was made
	Since     time.Time // the oldest line held; zero when empty
}

// Lines returns the latest lines at level or above: at most max of them
// (max < 1: all), and, oldest left out first, at most maxBytes of text in
// all (maxBytes < 1: no bound).
func (r *Ring) Lines(level slog.Level, max, maxBytes int) Snapshot {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := Snapshot{Lost: r.lost}
	if r.n > 0 {
		s.Since = r.lines[r.head].at
	}
	size := 0
	// Newest first, so the bounds keep the latest.
	for i := r.n - 1; i >= 0; i-- {
		l := r.lines[(r.head+i)%len(r.lines)]
		if l.level < level {
			continue
		}
		if (max > 0 && len(s.Lines) == max) || (maxBytes > 0 && size+len(l.text) > maxBytes) {
			s.Truncated = true
			break
		}
		s.Lines = append(s.Lines, l.text)
		size += len(l.text)
	}
	for i, j := 0, len(s.Lines)-1; i < j; i, j = i+1, j-1 {
		s.Lines[i], s.Lines[j] = s.Lines[j], s.Lines[i]
	}
	return s
}

// cut shortens s to at most n bytes on a rune boundary, marking the cut.
func cut(s string, n int) string {
	const more = "…"
	n -= len(more)
	for n > 0 && n < len(s) && s[n]&0xc0 == 0x80 {
		n--
	}
	return s[:n] + more
}

// Handler returns a slog.Handler that passes each record to next (when
// next takes its level) and writes it into the ring (when the ring's
// level takes it).
func (r *Ring) Handler(next slog.Handler) slog.Handler {
	w := &writer{r: r}
	return &handler{next: next, ring: r, w: w, text: slog.NewTextHandler(w, &slog.HandlerOptions{Level: r.cfg.Level})}
}

// handler tees records. text renders the ring's lines into w: a
// TextHandler writes each record with a single Write.
type handler struct {
	next slog.Handler
	ring *Ring
	w    *writer
	text slog.Handler
}

func (h *handler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.ring.cfg.Level || h.next.Enabled(ctx, l)
}

func (h *handler) Handle(ctx context.Context, rec slog.Record) error {
	var errs []error
	if rec.Level >= h.ring.cfg.Level {
		errs = append(errs, h.w.handle(ctx, h.text, rec))
	}
	if h.next.Enabled(ctx, rec.Level) {
		errs = append(errs, h.next.Handle(ctx, rec))
	}
	return errors.Join(errs...)
}

func (h *handler) WithAttrs(as []slog.Attr) slog.Handler {
	return &handler{next: h.next.WithAttrs(as), ring: h.ring, w: h.w, text: h.text.WithAttrs(as)}
}

func (h *handler) WithGroup(name string) slog.Handler {
	return &handler{next: h.next.WithGroup(name), ring: h.ring, w: h.w, text: h.text.WithGroup(name)}
}

// writer turns the TextHandler's one Write per record into a line, with
// the record's time and level, which handle holds for the Write.
type writer struct {
	r *Ring

	mu    sync.Mutex
	at    time.Time
	level slog.Level
}

func (w *writer) handle(ctx context.Context, text slog.Handler, rec slog.Record) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.at, w.level = rec.Time, rec.Level
	return text.Handle(ctx, rec)
}

func (w *writer) Write(p []byte) (int, error) {
	w.r.add(line{at: w.at, level: w.level, text: strings.TrimRight(string(p), "\n")})
	return len(p), nil
}
