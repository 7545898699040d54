package console

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// boxEvents streams the dashboard's rows as server-sent events: an
// "boxes" event with the JSON rows whenever they change (checked every
// Config.Interval) and at least every keepalive; an "end" event when the
// session ends, after which the page goes to sign-in.
func (c *Console) boxEvents(w http.ResponseWriter, r *http.Request, v *visit) {
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // nginx would otherwise hold the events back
	w.WriteHeader(http.StatusOK)
	// retry: how long the browser waits before reconnecting a dropped stream.
	if _, err := fmt.Fprintf(w, "retry: %d\n\n", (5 * time.Second).Milliseconds()); err != nil {
		return
	}
	tick := time.NewTicker(c.cfg.Interval)
	defer tick.Stop()
	var last []byte
	var sent time.Time
	for {
		if !c.stillValid(r.Context(), v.token) {
			_, _ = fmt.Fprint(w, "event: end\ndata: {}\n\n") // the stream ends either way
			_ = rc.Flush()                                   // likewise
			return
		}
		rows, err := c.sharedRows(r.Context(), v.lang)
		if err != nil {
			c.log.Warn("box stream: reading boxes", "err", err)
		} else if b, err := json.Marshal(rows); err != nil {
			c.log.Error("box stream: encoding rows", "err", err)
		} else if !bytes.Equal(b, last) || c.now().Sub(sent) >= keepalive {
			if _, err := fmt.Fprintf(w, "event: boxes\ndata: %s\n\n", b); err != nil {
				return // the browser went away
			}
			if err := rc.Flush(); err != nil {
				return
			}
			last, sent = b, c.now()
		}
		select {
		case <-r.Context().Done():
			return
		case <-c.quit:
			return
		case <-tick.C:
		}
	}
}
