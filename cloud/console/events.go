package console

import (
	"bytes"
	"fmt"
	"net/http"
	"time"

	"github.com/dalaba/dalaba/cloud/board"
)

// boxEvents streams a page of the dashboard as server-sent events, the
// page chosen by the same query string as the dashboard's: a "boxes"
// event with the page's JSON rows and a "summary" event with its counts
// whenever they change (checked every Config.Interval) and at least
// every keepalive; an "end" event when the session ends, after which the
// page goes to sign-in. The message is made once per snapshot of the
// fleet for every stream showing the same page (streamPage).
func (c *Console) boxEvents(w http.ResponseWriter, r *http.Request, v *visit) {
	q, err := board.ParseQuery(r.URL.Query())
	if err != nil {
		c.errorPage(w, r, http.StatusBadRequest, "BadRequest")
		return
	}
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
		b, err := c.streamPage(r.Context(), v.lang, q)
		if err != nil {
			c.log.Warn("box stream: reading boxes", "err", err)
		} else if !bytes.Equal(b, last) || c.now().Sub(sent) >= keepalive {
			if _, err := w.Write(b); err != nil {
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
