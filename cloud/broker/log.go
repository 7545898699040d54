package broker

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// refusals logs refused connections and topics at Warn, folding floods: per
// key (an identity and action, or a connect reason) at most one line per
// window, the next line saying how many were suppressed in between.
type refusals struct {
	log    *slog.Logger
	now    func() time.Time
	window time.Duration

	mu    sync.Mutex
	folds map[string]*fold // bounded: keys are identities or fixed reasons
}

type fold struct {
	logged     time.Time
	suppressed int
}

func newRefusals(log *slog.Logger, now func() time.Time, window time.Duration) *refusals {
	return &refusals{log: log, now: now, window: window, folds: map[string]*fold{}}
}

func (r *refusals) warn(key, action, reason string, attrs ...any) {
	now := r.now()
	r.mu.Lock()
	f := r.folds[key]
	if f != nil && now.Sub(f.logged) < r.window {
		f.suppressed++
		r.mu.Unlock()
		return
	}
	suppressed := 0
	if f != nil {
		suppressed = f.suppressed
	}
	r.folds[key] = &fold{logged: now}
	r.mu.Unlock()

	args := append([]any{"action", action, "reason", reason}, attrs...)
	if suppressed > 0 {
		args = append(args, "suppressed", suppressed)
	}
	r.log.Warn("refused", args...)
}

// flush reports what was suppressed since each key's last line.
func (r *refusals) flush() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for key, f := range r.folds {
		if f.suppressed > 0 {
			r.log.Warn("refusals folded", "key", key, "suppressed", f.suppressed)
			f.suppressed = 0
		}
	}
}

// mochiHandler is what mochi logs through: our handler, with mochi's
// lifecycle chatter (Info) lowered to Debug, since Run logs its own; its
// Warn for each message dropped on the way to a subscriber lowered too,
// since the broker counts those and logs them folded (Undelivered); and
// packet dumps dropped, since they would copy payloads of up to a megabyte
// into the log.
type mochiHandler struct{ h slog.Handler }

// perMessage reports whether msg is mochi's line for a single dropped
// message.
func perMessage(msg string) bool {
	return msg == "client store quota reached" || msg == "packet ids exhausted"
}

func mochiLevel(l slog.Level) slog.Level {
	if l == slog.LevelInfo {
		return slog.LevelDebug
	}
	return l
}

func (m mochiHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return m.h.Enabled(ctx, mochiLevel(l))
}

func (m mochiHandler) Handle(ctx context.Context, r slog.Record) error {
	level := mochiLevel(r.Level)
	if perMessage(r.Message) {
		level = slog.LevelDebug
		if !m.h.Enabled(ctx, level) {
			return nil
		}
	}
	out := slog.NewRecord(r.Time, level, r.Message, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		if a.Key != "pk" && a.Key != "packet" {
			out.AddAttrs(a)
		}
		return true
	})
	return m.h.Handle(ctx, out)
}

func (m mochiHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return mochiHandler{m.h.WithAttrs(attrs)}
}

func (m mochiHandler) WithGroup(name string) slog.Handler { return mochiHandler{m.h.WithGroup(name)} }
