package whep

import (
	"github.com/pion/rtp"
)

// H.264 NAL unit types the feed looks at (RFC 6184, H.264 table 7-1).
const (
	nalIDR   = 5
	nalSPS   = 7
	nalPPS   = 8
	nalSTAPA = 24
	nalFUA   = 28
)

// maxPending bounds the packets held while waiting for a keyframe: one
// access unit of a 4K IDR is a few hundred; more means no boundary was
// seen and the AU is dropped.
const maxPending = 2048

// feed turns a camera's RTP packets into what one viewer gets: nothing
// until an access unit with an IDR begins, that AU whole, with SPS and PPS
// ahead if it lacks them, then every packet; payloads above maxPayload
// split into FU-A fragments; sequence numbers renumbered so that what the
// feed adds or drops leaves no hole while a loss upstream stays a hole
// (the browser NACKs it); header extensions and CSRCs dropped, as the
// viewer never negotiated them. It is not safe for concurrent use.
type feed struct {
	sps, pps   []byte
	maxPayload int

	open    bool
	pending []*rtp.Packet // the current AU since its first packet, while !open
	clean   bool          // pending holds its AU from the start
	seen    bool
	prevTS  uint32
	prevEnd bool // the previous packet ended its AU (marker)

	lastIn uint16 // last forwarded input sequence number
	out    uint16 // last sequence number sent
	buf    []*rtp.Packet
}

func newFeed(sps, pps []byte, maxPayload int) *feed {
	return &feed{sps: sps, pps: pps, maxPayload: maxPayload}
}

// push takes the camera's next packet (the feed's own from then on) and
// returns what to send; the slice is reused by the next push.
func (f *feed) push(p *rtp.Packet) []*rtp.Packet {
	f.buf = f.buf[:0]
	if f.open {
		f.forward(p)
		return f.buf
	}
	if (f.seen && (f.prevEnd || p.Timestamp != f.prevTS)) || (!f.seen && startsAU(p.Payload)) {
		clear(f.pending)
		f.pending = f.pending[:0]
		f.clean = true
	}
	f.seen, f.prevTS, f.prevEnd = true, p.Timestamp, p.Marker
	if !f.clean {
		return f.buf
	}
	if len(f.pending) == maxPending {
		clear(f.pending)
		f.pending, f.clean = f.pending[:0], false
		return f.buf
	}
	f.pending = append(f.pending, p)
	if !has(p.Payload, nalIDR) {
		return f.buf
	}
	// The IDR's AU, from its first packet: send it, parameter sets first.
	f.open = true
	var sps, pps bool
	for _, q := range f.pending {
		sps = sps || has(q.Payload, nalSPS)
		pps = pps || has(q.Payload, nalPPS)
	}
	first := f.pending[0]
	f.out = first.SequenceNumber - 1
	f.lastIn = first.SequenceNumber - 1
	if !sps && len(f.sps) > 0 {
		f.inject(first, f.sps)
	}
	if !pps && len(f.pps) > 0 {
		f.inject(first, f.pps)
	}
	for _, q := range f.pending {
		f.forward(q)
	}
	clear(f.pending)
	f.pending = nil
	return f.buf
}

// inject sends a parameter set as a single-NAL packet of like's AU.
func (f *feed) inject(like *rtp.Packet, nal []byte) {
	f.out++
	f.buf = append(f.buf, &rtp.Packet{
		Header:  rtp.Header{Version: 2, PayloadType: like.PayloadType, SequenceNumber: f.out, Timestamp: like.Timestamp, SSRC: like.SSRC},
		Payload: nal,
	})
}

// forward sends p, renumbered, split if too big.
func (f *feed) forward(p *rtp.Packet) {
	delta := p.SequenceNumber - f.lastIn
	if delta == 0 || delta >= 0x8000 {
		return // a duplicate or a late packet: its place is gone
	}
	f.lastIn = p.SequenceNumber
	f.out += delta - 1 // keep upstream losses visible
	p.Extension, p.Extensions, p.CSRC = false, nil, nil
	p.Padding, p.PaddingSize, p.Header.PaddingSize = false, 0, 0
	if len(p.Payload) <= f.maxPayload {
		f.emit(p)
		return
	}
	f.split(p)
}

func (f *feed) emit(p *rtp.Packet) {
	f.out++
	p.SequenceNumber = f.out
	f.buf = append(f.buf, p)
}

// split re-packetises a payload above maxPayload; the marker goes on the
// last piece only.
func (f *feed) split(p *rtp.Packet) {
	pl := p.Payload
	switch typ := pl[0] & 0x1f; {
	case typ >= 1 && typ <= 23:
		f.fragment(p, pl[0]&0xe0|nalFUA, pl[0]&0x1f, pl[1:], true, true, p.Marker)
	case typ == nalFUA && len(pl) > 2:
		f.fragment(p, pl[0], pl[1]&0x1f, pl[2:], pl[1]&0x80 != 0, pl[1]&0x40 != 0, p.Marker)
	case typ == nalSTAPA:
		nals := stapNALs(pl)
		for i, n := range nals {
			last := i == len(nals)-1
			if len(n) <= f.maxPayload {
				f.emit(piece(p, n, last && p.Marker))
				continue
			}
			f.fragment(p, n[0]&0xe0|nalFUA, n[0]&0x1f, n[1:], true, true, last && p.Marker)
		}
	default:
		f.emit(p) // FU-B, STAP-B, MTAP: not from cameras; sent as is
	}
}

// fragment sends data as FU-A pieces of at most maxPayload bytes; start
// and end say whether the first and last may carry S and E.
func (f *feed) fragment(p *rtp.Packet, indicator, typ byte, data []byte, start, end, marker bool) {
	size := f.maxPayload - 2
	for i := 0; i < len(data); i += size {
		chunk := data[i:min(i+size, len(data))]
		hdr := typ
		if i == 0 && start {
			hdr |= 0x80
		}
		last := i+size >= len(data)
		if last && end {
			hdr |= 0x40
		}
		pl := make([]byte, 0, 2+len(chunk))
		pl = append(append(pl, indicator, hdr), chunk...)
		f.emit(piece(p, pl, last && marker))
	}
}

// piece is a packet of p's AU carrying payload.
func piece(p *rtp.Packet, payload []byte, marker bool) *rtp.Packet {
	return &rtp.Packet{
		Header:  rtp.Header{Version: 2, Marker: marker, PayloadType: p.PayloadType, Timestamp: p.Timestamp, SSRC: p.SSRC},
		Payload: payload,
	}
}

// startsAU reports whether a payload can only begin an access unit: a
// delimiter, SEI or SPS first, or the start of a picture's first slice
// (first_mb_in_slice 0, whose ue(v) code is a single 1 bit). It spares a
// viewer that joins right at a keyframe from waiting for the next one.
func startsAU(pl []byte) bool {
	if len(pl) < 2 {
		return false
	}
	typ, body := pl[0]&0x1f, pl[1:]
	switch typ {
	case nalSTAPA:
		if len(pl) < 4 {
			return false
		}
		typ, body = pl[3]&0x1f, pl[4:]
	case nalFUA:
		if pl[1]&0x80 == 0 {
			return false
		}
		typ, body = pl[1]&0x1f, pl[2:]
	}
	switch typ {
	case 6, nalSPS, 9:
		return true
	case 1, nalIDR:
		return len(body) > 0 && body[0]&0x80 != 0
	}
	return false
}

// has reports whether an RTP payload carries a NAL unit of type typ
// (whole, aggregated, or as a fragment).
func has(pl []byte, typ byte) bool {
	if len(pl) == 0 {
		return false
	}
	switch t := pl[0] & 0x1f; t {
	case nalSTAPA:
		for _, n := range stapNALs(pl) {
			if n[0]&0x1f == typ {
				return true
			}
		}
		return false
	case nalFUA:
		return len(pl) > 1 && pl[1]&0x1f == typ
	default:
		return t == typ
	}
}

// stapNALs splits a STAP-A payload into its NAL units; a truncated one
// ends the list.
func stapNALs(pl []byte) [][]byte {
	var out [][]byte
	for i := 1; i+2 <= len(pl); {
		n := int(pl[i])<<8 | int(pl[i+1])
		i += 2
		if n == 0 || i+n > len(pl) {
			break
		}
		out = append(out, pl[i:i+n])
		i += n
	}
	return out
}
