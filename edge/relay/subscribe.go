package relay

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/pion/rtp"
)

// subscriptionQueue is how many packets a subscriber may fall behind
// (about 2 s of 720p video) before it loses packets: a slow viewer never
// stalls the camera nor the other readers.
const subscriptionQueue = 512

// readerKey carries the name a Subscribe caller gives itself.
type readerKey struct{}

// WithReader names the reader of a Subscribe (the WebRTC peer's address,
// say) for its camera.viewer event; "subscriber" otherwise.
func WithReader(ctx context.Context, who string) context.Context {
	return context.WithValue(ctx, readerKey{}, who)
}

// Subscribe is a reader that is not RTSP (the WebRTC side): it counts as
// a reader (on demand, linger and limits alike), waits up to
// Config.DescribeWait for a camera not yet connected, and returns the
// description (one H.264 or H.265 video media, not to be modified) and
// the camera's RTP packets for that media, untouched, each the
// receiver's own. The channel is closed when the camera is lost or
// removed, the relay stops, ctx ends, or release is called; release
// must be called (more than once is fine).
func (r *Relay) Subscribe(ctx context.Context, cameraID string) (*description.Session, <-chan *rtp.Packet, func(), error) {
	src := r.lookup(cameraID)
	if src == nil {
		return nil, nil, nil, fmt.Errorf("relay: subscribe %q: %w", cameraID, ErrUnknownCamera)
	}
	if err := src.admit(); err != nil {
		return nil, nil, nil, fmt.Errorf("relay: subscribe: %w", err)
	}
	st, desc, err := src.await(ctx, r.cfg.DescribeWait)
	if err != nil {
		src.release()
		return nil, nil, nil, fmt.Errorf("relay: subscribe: %w", err)
	}
	who, _ := ctx.Value(readerKey{}).(string)
	if who == "" {
		who = "subscriber"
	}
	sub := &subscription{src: src, ch: make(chan *rtp.Packet, subscriptionQueue), reader: who, from: time.Now()}
	src.mu.Lock()
	if src.stream != st {
		// Lost between the wait and now: as if it had failed the wait.
		src.mu.Unlock()
		src.release()
		return nil, nil, nil, fmt.Errorf("relay: subscribe: %w: camera %q lost while joining", ErrUnavailable, cameraID)
	}
	src.subs[sub] = struct{}{}
	src.mu.Unlock()
	src.log.Info("subscriber joined", "reader", who)
	stop := context.AfterFunc(ctx, sub.end)
	return desc, sub.ch, func() { stop(); sub.end() }, nil
}

// subscription is one Subscribe caller.
type subscription struct {
	src     *source
	ch      chan *rtp.Packet
	reader  string
	from    time.Time
	dropped atomic.Uint64
	once    sync.Once
}

// offer queues a packet or drops it; the source's mutex is held, so end
// cannot close the channel meanwhile.
func (sub *subscription) offer(pkt *rtp.Packet) {
	select {
	case sub.ch <- pkt:
	default:
		sub.dropped.Add(1)
	}
}

// end removes the subscription, closes its channel and counts it out,
// once.
func (sub *subscription) end() {
	sub.once.Do(func() {
		s := sub.src
		s.mu.Lock()
		delete(s.subs, sub)
		s.mu.Unlock()
		// No forward can see sub any more: it is out of the map.
		close(sub.ch)
		s.release()
		to := time.Now()
		s.log.Info("subscriber left", "reader", sub.reader, "watched", to.Sub(sub.from).Round(time.Millisecond),
			"dropped", sub.dropped.Load())
		s.r.emit(Event{Type: EventViewer, Camera: s.cam.ID, Reader: sub.reader, From: sub.from, To: to})
	})
}
