package whep

import (
	"bytes"

	"github.com/pion/rtp"
)

// H.264 NAL unit types the feed looks at (RFC 6184, H.264 table 7-1).
const (
	nalIDR   = 5
	nalSEI   = 6
	nalSPS   = 7
	nalPPS   = 8
	nalAUD   = 9
	nalSTAPA = 24
	nalFUA   = 28
)

// H.265 NAL unit types (RFC 7798, H.265 table 7-1).
const (
	hevcIRAPFirst = 16
	hevcIRAPLast  = 21
	hevcVPS       = 32
	hevcSPS       = 33
	hevcPPS       = 34
	hevcAUD       = 35
	hevcSEIPrefix = 39
	hevcAP        = 48
	hevcFU        = 49
)

// maxPending bounds the packets held while waiting for a keyframe: one
// access unit of a 4K IDR is a few hundred; more means no boundary was
// seen and the AU is dropped.
const maxPending = 2048

// feed turns a camera's RTP packets into what one viewer gets: nothing
// until an access unit with a keyframe (an H.264 IDR, an H.265 IRAP)
// begins, that AU whole, with its parameter sets ahead if it lacks them,
// then every packet but those of H.264 B-frames nothing refers to (a
// browser's WebRTC decodes in arrival order: a B-frame would show out of
// place, and leaving out one nobody refers to harms no other frame);
// payloads above maxPayload split into fragments, the others passed
// through as they are; sequence numbers renumbered so that what the feed
// adds or drops leaves no hole while a loss upstream stays a hole (the
// browser NACKs it); header extensions and CSRCs dropped, as the viewer
// never negotiated them. It is not safe for concurrent use.
type feed struct {
	h265       bool
	params     [][]byte // the description's parameter sets, in order (VPS, SPS, PPS)
	maxPayload int

	open    bool
	pending []*rtp.Packet // the current AU since its first packet, while !open
	clean   bool          // pending holds its AU from the start
	seen    bool
	prevTS  uint32
	prevEnd bool // the previous packet ended its AU (marker)

	// While open: the current AU's packets held until its first slice
	// says whether the AU is sent (SEI, delimiters), and whether it is
	// being left out.
	held    []*rtp.Packet
	auTS    uint32
	auSeen  bool
	auSlice bool // the current AU's first slice has come
	auDrop  bool // the current AU is left out
	dropped uint64

	lastIn uint16 // last input sequence number taken
	out    uint16 // last sequence number sent
	buf    []*rtp.Packet

	// An H.264 NAL unit being cut anew (refragment): its FU indicator and
	// type, and the bytes not yet sent.
	cutting       bool
	cutInd, cutTy byte
	cutStarted    bool // its first piece (S) went out
	cutData       []byte
	cutBuf        []byte // cutData's backing array, reused

	// noReorder rewrites the camera's SPS to say no frame is reordered
	// (see sps.go), when its B-frames are left out; the last SPS seen
	// and its rewrite.
	noReorder     bool
	spsIn, spsOut []byte
}

func newFeed(h265 bool, params [][]byte, maxPayload int) *feed {
	return &feed{h265: h265, params: params, maxPayload: maxPayload}
}

// push takes the camera's next packet (the feed's own from then on) and
// returns what to send; the slice is reused by the next push.
func (f *feed) push(p *rtp.Packet) []*rtp.Packet {
	f.buf = f.buf[:0]
	if f.open {
		f.filter(p)
		return f.buf
	}
	if (f.seen && (f.prevEnd || p.Timestamp != f.prevTS)) || (!f.seen && f.startsAU(p.Payload)) {
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
	if !f.hasKey(p.Payload) {
		return f.buf
	}
	// The keyframe's AU, from its first packet: send it, parameter sets
	// first.
	f.open = true
	first := f.pending[0]
	f.out = first.SequenceNumber - 1
	f.lastIn = first.SequenceNumber - 1
	for _, ps := range f.params {
		if len(ps) == 0 {
			continue
		}
		typ := f.nalType(ps)
		found := false
		for _, q := range f.pending {
			found = found || f.has(q.Payload, typ)
		}
		if !found {
			f.inject(first, ps)
		}
	}
	for _, q := range f.pending {
		f.filter(q)
	}
	clear(f.pending)
	f.pending = nil
	return f.buf
}

// filter sends p unless it belongs to an AU being left out; packets before
// an AU's first slice wait for it.
func (f *feed) filter(p *rtp.Packet) {
	if !f.auSeen || p.Timestamp != f.auTS {
		f.endAU()
		f.auSeen, f.auTS, f.auSlice, f.auDrop = true, p.Timestamp, false, false
	}
	if !f.auSlice {
		slice, disposable := f.firstSlice(p.Payload)
		if !slice {
			f.held = append(f.held, p)
			return
		}
		f.auSlice, f.auDrop = true, disposable
		if f.auDrop {
			f.dropped++
		}
		for _, q := range f.held {
			f.take(q)
		}
		clear(f.held)
		f.held = f.held[:0]
	}
	f.take(p)
}

// endAU lets go of packets held for an AU that had no slice: nothing to
// show, and nothing needs them.
func (f *feed) endAU() {
	for _, q := range f.held {
		f.consume(q)
	}
	clear(f.held)
	f.held = f.held[:0]
}

// take sends p or, in an AU left out, consumes its sequence number.
func (f *feed) take(p *rtp.Packet) {
	if f.auDrop {
		f.consume(p)
		return
	}
	f.forward(p)
}

// consume takes p's place in the input without sending it: its sequence
// number leaves no hole.
func (f *feed) consume(p *rtp.Packet) {
	if delta := p.SequenceNumber - f.lastIn; delta == 0 || delta >= 0x8000 {
		return
	}
	gap := p.SequenceNumber - f.lastIn - 1
	f.out += gap // losses before it stay visible
	f.lastIn = p.SequenceNumber
}

// firstSlice reports whether payload begins a coded slice and, if so,
// whether that slice's picture may be left out: an H.264 B slice that no
// other picture refers to (nal_ref_idc 0).
func (f *feed) firstSlice(pl []byte) (slice, disposable bool) {
	if len(pl) == 0 {
		return false, false
	}
	if f.h265 {
		typ, _, ok := hevcStart(pl)
		return ok && typ <= 31, false
	}
	hdr, body := pl[0], pl[1:]
	switch pl[0] & 0x1f {
	case nalFUA:
		if len(pl) < 3 || pl[1]&0x80 == 0 {
			// A fragment without its start: part of a slice whose
			// beginning was lost; sent, the decoder copes.
			return true, false
		}
		hdr, body = pl[0]&0xe0|pl[1]&0x1f, pl[2:]
	case nalSTAPA:
		nals := stapNALs(pl)
		for _, n := range nals {
			if t := n[0] & 0x1f; t == 1 || t == nalIDR {
				hdr, body = n[0], n[1:]
				break
			}
		}
	}
	switch hdr & 0x1f {
	case 1:
		return true, hdr&0x60 == 0 && isBSlice(body)
	case nalIDR:
		return true, false
	}
	return false, false
}

// isBSlice reads slice_type, the second ue(v) of a slice header: 1 or 6
// is B. The first bytes of a slice header hold no emulation prevention.
func isBSlice(body []byte) bool {
	var pos int
	bit := func() int {
		if pos/8 >= len(body) {
			return -1
		}
		b := int(body[pos/8]>>(7-pos%8)) & 1
		pos++
		return b
	}
	ue := func() int {
		zeros := 0
		for {
			b := bit()
			if b < 0 || zeros > 16 {
				return -1
			}
			if b == 1 {
				break
			}
			zeros++
		}
		v := 0
		for range zeros {
			b := bit()
			if b < 0 {
				return -1
			}
			v = v<<1 | b
		}
		return 1<<zeros - 1 + v
	}
	if ue() < 0 {
		return false
	}
	st := ue()
	return st >= 0 && st%5 == 1
}

// inject sends a parameter set as a single-NAL packet of like's AU.
func (f *feed) inject(like *rtp.Packet, nal []byte) {
	f.out++
	f.buf = append(f.buf, &rtp.Packet{
		Header:  rtp.Header{Version: 2, PayloadType: like.PayloadType, SequenceNumber: f.out, Timestamp: like.Timestamp, SSRC: like.SSRC},
		Payload: nal,
	})
}

// forward sends p, renumbered, as it is when it fits (most camera
// packets do), cut anew when it does not.
func (f *feed) forward(p *rtp.Packet) {
	delta := p.SequenceNumber - f.lastIn
	if delta == 0 || delta >= 0x8000 {
		return // a duplicate or a late packet: its place is gone
	}
	f.lastIn = p.SequenceNumber
	if delta > 1 && f.cutting {
		// A piece of the NAL unit being cut was lost: the rest is of no
		// use; the hole it leaves tells the viewer.
		f.cutting, f.cutData = false, f.cutBuf[:0]
	}
	f.out += delta - 1 // keep upstream losses visible
	p.Extension, p.Extensions, p.CSRC = false, nil, nil
	p.Padding, p.PaddingSize, p.Header.PaddingSize = false, 0, 0
	if f.noReorder && !f.h265 && has(p.Payload, nalSPS) {
		p.Payload = f.fixSPS(p.Payload)
	}
	if !f.h265 && len(p.Payload) > 2 && p.Payload[0]&0x1f == nalFUA && (f.cutting || len(p.Payload) > f.maxPayload) {
		f.refragment(p)
		return
	}
	if len(p.Payload) <= f.maxPayload {
		f.emit(p)
		return
	}
	if f.h265 {
		f.splitHEVC(p)
		return
	}
	f.split(p)
}

// refragment cuts an H.264 NAL unit that comes in FU-A fragments too big
// for the path into fragments of maxPayload, across the camera's packets:
// cutting each one in two would double the packets (and the box's work
// per packet) for a camera whose packets are a little too big; this adds
// a few percent.
func (f *feed) refragment(p *rtp.Packet) {
	pl := p.Payload
	start, end := pl[1]&0x80 != 0, pl[1]&0x40 != 0
	if start {
		f.cutting, f.cutStarted = true, false
		f.cutInd, f.cutTy = pl[0], pl[1]&0x1f
		f.cutData = f.cutBuf[:0]
	}
	if !f.cutting {
		// The middle of a NAL unit whose start was lost: cut as it comes.
		f.split(p)
		return
	}
	f.cutData = append(f.cutData, pl[2:]...)
	if cap(f.cutData) > cap(f.cutBuf) {
		f.cutBuf = f.cutData[:0]
	}
	size := f.maxPayload - 2
	for len(f.cutData) > size || (end && len(f.cutData) > 0) {
		n := min(size, len(f.cutData))
		last := end && n == len(f.cutData)
		hdr := f.cutTy
		if !f.cutStarted {
			hdr |= 0x80
			f.cutStarted = true
		}
		if last {
			hdr |= 0x40
		}
		out := make([]byte, 0, 2+n)
		out = append(append(out, f.cutInd, hdr), f.cutData[:n]...)
		f.emit(piece(p, out, last && p.Marker))
		f.cutData = f.cutData[n:]
	}
	if len(f.cutData) == 0 {
		f.cutData = f.cutBuf[:0]
	} else if cap(f.cutData) < f.maxPayload {
		// Keep what is left at the start of the buffer, so appending
		// the next fragment does not grow it.
		f.cutBuf = append(f.cutBuf[:0], f.cutData...)
		f.cutData = f.cutBuf
	}
	if end {
		f.cutting = false
	}
}

func (f *feed) emit(p *rtp.Packet) {
	f.out++
	p.SequenceNumber = f.out
	f.buf = append(f.buf, p)
}

// split re-packetises an H.264 payload above maxPayload; the marker goes
// on the last piece only.
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

// splitHEVC re-packetises an H.265 payload above maxPayload into FU
// pieces (RFC 7798 4.4.3).
func (f *feed) splitHEVC(p *rtp.Packet) {
	pl := p.Payload
	if len(pl) < 3 {
		f.emit(p)
		return
	}
	switch typ := pl[0] >> 1 & 0x3f; typ {
	case hevcFU:
		f.fragmentHEVC(p, pl[0], pl[1], pl[2]&0x3f, pl[3:], pl[2]&0x80 != 0, pl[2]&0x40 != 0, p.Marker)
	case hevcAP:
		f.emit(p) // cameras aggregate only small units; sent as is
	default:
		f.fragmentHEVC(p, pl[0], pl[1], typ, pl[2:], true, true, p.Marker)
	}
}

func (f *feed) fragmentHEVC(p *rtp.Packet, h0, h1, typ byte, data []byte, start, end, marker bool) {
	size := f.maxPayload - 3
	for i := 0; i < len(data); i += size {
		chunk := data[i:min(i+size, len(data))]
		fu := typ
		if i == 0 && start {
			fu |= 0x80
		}
		last := i+size >= len(data)
		if last && end {
			fu |= 0x40
		}
		pl := make([]byte, 0, 3+len(chunk))
		pl = append(append(pl, h0&0x81|hevcFU<<1, h1, fu), chunk...)
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
// delimiter, SEI or parameter set first, or the start of a picture's first
// slice (H.264: first_mb_in_slice 0, whose ue(v) code is a single 1 bit;
// H.265: first_slice_segment_in_pic_flag). It spares a viewer that joins
// right at a keyframe from waiting for the next one.
func (f *feed) startsAU(pl []byte) bool {
	if f.h265 {
		typ, body, ok := hevcStart(pl)
		switch {
		case !ok:
			return false
		case typ == hevcVPS || typ == hevcSPS || typ == hevcPPS || typ == hevcAUD || typ == hevcSEIPrefix:
			return true
		case typ <= 31:
			return len(body) > 0 && body[0]&0x80 != 0
		}
		return false
	}
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
	case nalSEI, nalSPS, nalAUD:
		return true
	case 1, nalIDR:
		return len(body) > 0 && body[0]&0x80 != 0
	}
	return false
}

// hevcStart is the type and body of the NAL unit an H.265 payload begins
// (the first of an AP, a fragment's only when it is the start); ok false
// for a fragment that is not.
func hevcStart(pl []byte) (typ byte, body []byte, ok bool) {
	if len(pl) < 3 {
		return 0, nil, false
	}
	switch t := pl[0] >> 1 & 0x3f; t {
	case hevcAP:
		if len(pl) < 6 {
			return 0, nil, false
		}
		return pl[4] >> 1 & 0x3f, pl[6:], true
	case hevcFU:
		if pl[2]&0x80 == 0 {
			return 0, nil, false
		}
		return pl[2] & 0x3f, pl[3:], true
	default:
		return t, pl[2:], true
	}
}

// hasKey reports whether a payload carries a keyframe's slice.
func (f *feed) hasKey(pl []byte) bool {
	if !f.h265 {
		return has(pl, nalIDR)
	}
	for t := byte(hevcIRAPFirst); t <= hevcIRAPLast; t++ {
		if f.has(pl, t) {
			return true
		}
	}
	return false
}

// nalType is the type of a whole NAL unit.
func (f *feed) nalType(nal []byte) byte {
	if f.h265 {
		return nal[0] >> 1 & 0x3f
	}
	return nal[0] & 0x1f
}

// has reports whether a payload carries a NAL unit of type typ (whole,
// aggregated, or as a fragment).
func (f *feed) has(pl []byte, typ byte) bool {
	if !f.h265 {
		return has(pl, typ)
	}
	if len(pl) < 3 {
		return false
	}
	switch t := pl[0] >> 1 & 0x3f; t {
	case hevcAP:
		for i := 2; i+2 < len(pl); {
			n := int(pl[i])<<8 | int(pl[i+1])
			i += 2
			if n < 2 || i+n > len(pl) {
				return false
			}
			if pl[i]>>1&0x3f == typ {
				return true
			}
			i += n
		}
		return false
	case hevcFU:
		return pl[2]&0x3f == typ
	default:
		return t == typ
	}
}

// has reports whether an H.264 RTP payload carries a NAL unit of type typ
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

// restart is a fresh feed for a viewer that was sent nothing yet: it
// waits for the next keyframe.
func (f *feed) restart() *feed {
	return newFeed(f.h265, f.params, f.maxPayload)
}

// fixSPS rewrites the SPS an H.264 payload carries (alone or aggregated)
// with noReorderSPS; the payload is shared with other readers, so a new
// one is made.
func (f *feed) fixSPS(pl []byte) []byte {
	fix := func(sps []byte) []byte {
		if !bytes.Equal(sps, f.spsIn) {
			f.spsIn, f.spsOut = bytes.Clone(sps), noReorderSPS(sps)
		}
		return f.spsOut
	}
	switch pl[0] & 0x1f {
	case nalSPS:
		return fix(pl)
	case nalSTAPA:
		out := []byte{pl[0]}
		for _, n := range stapNALs(pl) {
			if n[0]&0x1f == nalSPS {
				n = fix(n)
			}
			out = append(out, byte(len(n)>>8), byte(len(n)))
			out = append(out, n...)
		}
		return out
	}
	return pl // an SPS in fragments: not from cameras
}
