package relay

import "github.com/pion/rtp"

// maxGOPBytes bounds the group of pictures kept per pulled stream: 8
// Mbit/s with a keyframe every 4 s. A camera with longer GOPs gets no
// instant start rather than costing the box its memory.
const maxGOPBytes = 4 << 20

// gop is the pull's packets since the access unit of its latest keyframe,
// audio included, in arrival order: what a new viewer is sent first, so
// it decodes at once instead of waiting for the next keyframe. It is kept
// under the source's mutex; its packets are shared and never modified.
type gop struct {
	h265    bool
	pkts    []Packet
	bytes   int
	ok      bool // pkts begins with a keyframe's access unit
	auStart int  // index of the current video access unit's first packet
	curTS   uint32
	seen    bool
	ended   bool // the last video packet ended its access unit
}

// add keeps p (a video or audio packet of the pull).
func (g *gop) add(p Packet) {
	if p.Audio {
		if g.ok {
			g.push(p)
		}
		return
	}
	if !g.seen || g.ended || p.Timestamp != g.curTS {
		g.auStart = len(g.pkts)
	}
	g.seen, g.curTS, g.ended = true, p.Timestamp, p.Marker
	key := false
	eachNALStart(g.h265, p.Payload, func(n nalStart) { key = key || isKeyNAL(g.h265, n.typ) })
	if key && (!g.ok || g.auStart > 0) {
		// A new keyframe: keep its AU's first packets, drop the rest.
		kept := make([]Packet, 0, 256)
		g.bytes = 0
		for _, q := range g.pkts[g.auStart:] {
			kept = append(kept, q)
			g.bytes += len(q.Payload)
		}
		g.pkts, g.auStart, g.ok = kept, 0, true
	}
	if !g.ok {
		// Before the first keyframe: only the current AU, which may be
		// the keyframe's (parameter sets come first).
		if g.auStart > 0 {
			clear(g.pkts)
			g.pkts, g.bytes, g.auStart = g.pkts[:0], 0, 0
		}
	}
	g.push(p)
	if g.bytes > maxGOPBytes {
		g.reset()
	}
}

func (g *gop) push(p Packet) {
	g.pkts = append(g.pkts, p)
	g.bytes += len(p.Payload)
}

// reset forgets everything until the next keyframe.
func (g *gop) reset() {
	clear(g.pkts)
	g.pkts, g.bytes, g.auStart, g.ok = g.pkts[:0], 0, 0, false
}

// keyframe returns the packets since the latest keyframe, nil when there
// is none; the slice is the caller's, the packets are shared.
func (g *gop) keyframe() []Packet {
	if !g.ok {
		return nil
	}
	return append([]Packet(nil), g.pkts...)
}

// rtpCopy is a packet of the pull for one reader: its own header (the
// reader renumbers it), the payload shared.
func rtpCopy(p *rtp.Packet) *rtp.Packet {
	cp := *p
	return &cp
}
