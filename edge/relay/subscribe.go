package relay

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/pion/rtp"
)

// subscriptionQueue is how many live packets a subscriber may fall behind
// (about 2 s of 720p video) before it loses packets: a slow viewer never
// stalls the camera nor the other readers. Its queue holds the GOP it is
// started with on top.
const subscriptionQueue = 512

// settleWait bounds how long Subscribe waits, on a stream never analysed
// before, for its first frames to tell whether it has B-frames: a camera's
// keyframe comes within its GOP, a few seconds at most.
const settleWait = 3 * time.Second

// readerKey carries the name a Subscribe caller gives itself.
type readerKey struct{}

// WithReader names the reader of a Subscribe (the WebRTC peer's address,
// say) for its camera.viewer event; "subscriber" otherwise.
func WithReader(ctx context.Context, who string) context.Context {
	return context.WithValue(ctx, readerKey{}, who)
}

// Packet is one of a camera's RTP packets as a subscriber gets it: its
// header the subscriber's own, its payload shared with the other readers
// and never to be modified.
type Packet struct {
	*rtp.Packet
	Audio bool // of the Audio media; otherwise of the Video one
}

// Subscription is a Subscribe caller's view of a camera's stream.
type Subscription struct {
	// Desc is the stream's description (not to be modified): Video, and
	// Audio when the camera has G.711 audio.
	Desc  *description.Session
	Video *description.Media
	Audio *description.Media // nil: no audio the WebRTC side can send
	// Packets are the stream's packets, starting with those of the
	// latest keyframe's group of pictures when the relay has it (sent at
	// once, then live). It is closed when the camera is lost or removed,
	// the relay stops, ctx ends, or Release is called.
	Packets <-chan Packet
	// Info is what was known of the stream when Subscribe returned.
	Info StreamInfo
	// Cached is how many of the first Packets came from the GOP cache.
	Cached int

	sub *subscription
}

// Release ends the subscription; it must be called (more than once is
// fine).
func (s *Subscription) Release() { s.sub.stop() }

// Subscribe is a reader that is not RTSP (the WebRTC side): it counts as a
// reader (on demand, linger and limits alike) of path (see Path), waits up
// to Config.DescribeWait for a camera not yet connected, and then, for a
// stream never analysed before, up to settleWait for its first frames to
// tell whether it has B-frames. Release must be called.
func (r *Relay) Subscribe(ctx context.Context, path string) (*Subscription, error) {
	src := r.lookup(path)
	if src == nil {
		return nil, fmt.Errorf("relay: subscribe %q: %w", path, ErrUnknownCamera)
	}
	if err := src.admit(); err != nil {
		return nil, fmt.Errorf("relay: subscribe: %w", err)
	}
	st, _, err := src.await(ctx, r.cfg.DescribeWait)
	if err != nil {
		src.release()
		return nil, fmt.Errorf("relay: subscribe: %w", err)
	}
	src.mu.Lock()
	settled := src.settled
	src.mu.Unlock()
	if src.currentInfo().Known {
		settled = nil
	}
	if settled != nil {
		t := time.NewTimer(settleWait)
		select {
		case <-settled:
		case <-t.C: // a camera slow to send a keyframe: go on, unknown
		case <-ctx.Done():
		}
		t.Stop()
	}
	who, _ := ctx.Value(readerKey{}).(string)
	if who == "" {
		who = "subscriber"
	}
	src.mu.Lock()
	if src.stream != st {
		// Lost between the wait and now: as if it had failed the wait.
		src.mu.Unlock()
		src.release()
		return nil, fmt.Errorf("relay: subscribe: %w: camera %q lost while joining", ErrUnavailable, path)
	}
	video, audio := src.media, src.audio
	if audio != nil && !isG711(audio) {
		audio = nil // AAC goes to RTSP readers only
	}
	cached := src.gop.keyframe()
	sub := &subscription{src: src, ch: make(chan Packet, subscriptionQueue+len(cached)), reader: who, from: time.Now(), audio: audio != nil}
	n := 0
	for _, p := range cached {
		if !p.Audio || sub.audio {
			sub.ch <- Packet{Packet: rtpCopy(p.Packet), Audio: p.Audio}
			n++
		}
	}
	src.subs[sub] = struct{}{}
	desc := src.desc
	src.mu.Unlock()
	info := src.currentInfo()
	src.log.Info("subscriber joined", "reader", who, "cached_packets", n)
	stop := context.AfterFunc(ctx, sub.end)
	sub.stopCtx = stop
	return &Subscription{Desc: desc, Video: video, Audio: audio, Packets: sub.ch, Info: info, Cached: n, sub: sub}, nil
}

func isG711(m *description.Media) bool {
	_, ok := m.Formats[0].(*format.G711)
	return ok
}

// subscription is one Subscribe caller.
type subscription struct {
	src     *source
	ch      chan Packet
	reader  string
	from    time.Time
	audio   bool // takes the audio packets
	dropped atomic.Uint64
	once    sync.Once
	stopCtx func() bool
}

// offer queues a packet or drops it; the source's mutex is held, so end
// cannot close the channel meanwhile.
func (sub *subscription) offer(pkt Packet) {
	select {
	case sub.ch <- pkt:
	default:
		sub.dropped.Add(1)
	}
}

func (sub *subscription) stop() {
	if sub.stopCtx != nil {
		sub.stopCtx()
	}
	sub.end()
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
		s.r.emit(Event{Type: EventViewer, Camera: s.cam.ID, Stream: s.streamName(), Reader: sub.reader, From: sub.from, To: to})
	})
}
