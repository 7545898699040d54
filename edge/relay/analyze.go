package relay

import (
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
	"github.com/pion/rtp"
)

// StreamInfo is what the relay has learnt of one of a camera's streams
// from its description and its first frames.
type StreamInfo struct {
	Codec         string // CodecH264 or CodecH265
	Width, Height int    // from the SPS; 0 if unknown
	// Known: enough frames were seen since a keyframe to tell the rest
	// (settleFrames, or a whole GOP).
	Known bool
	// BFrames: the stream has B-frames (or, for H.265, pictures sent out
	// of display order), which a browser's WebRTC cannot reorder.
	BFrames bool
	// BFramesReferenced: some B-frames are references of other frames (a
	// B-pyramid), so they cannot be left out; for H.265 whenever BFrames.
	BFramesReferenced bool
	// FPS is the frame rate, ReferenceFPS that of the frames left when
	// the disposable B-frames are left out; 0 if unknown.
	FPS, ReferenceFPS float64
	// Kbps is the bitrate measured over the last seconds; 0 if not yet.
	Kbps int
	// Audio is the audio codec re-served beside the video ("PCMA",
	// "PCMU", "AAC"); empty for none.
	Audio string
}

// Disposable reports whether leaving out the B-frames leaves a stream a
// browser decodes smoothly: they are nobody's references.
func (i StreamInfo) Disposable() bool { return i.BFrames && !i.BFramesReferenced }

// settleFrames is how many frames after a keyframe tell whether a stream
// has B-frames: in decode order a camera's GOP goes I P B B ... (or I P
// Bref b b for a pyramid), so the first B comes by the third frame after
// the keyframe. The first viewer of a camera never pulled before waits for
// them (120 ms at 25 fps).
const settleFrames = 4

// analyzer watches one pull's video packets; it is fed under the source's
// mutex.
type analyzer struct {
	h265 bool
	info StreamInfo

	keySeen  bool
	gopSeen  bool // a second keyframe came: the counts span a whole GOP
	bRun     int  // B-frames in a row, and the longest run
	maxBRun  int
	frames   int // access units since the first keyframe
	bframes  int // of which B, disposable
	brefs    int // of which B, referenced
	curTS    uint32
	curB     bool // the current AU has a B slice
	curBRef  bool // ... used as a reference
	inAU     bool
	prevTS   uint32 // timestamp of the last AU closed
	havePrev bool
	tsMin    int64 // unwrapped RTP times of the AUs since the keyframe
	tsMax    int64
	unwrap   int64 // the unwrapped timestamp of the last AU

	// bitrate over windows of rateWindow
	winStart time.Time
	winBytes int
}

// rateWindow is how long a bitrate measurement takes.
const rateWindow = 2 * time.Second

func newAnalyzer(codec string, sps []byte) *analyzer {
	a := &analyzer{h265: codec == CodecH265}
	a.info.Codec = codec
	a.sps(sps)
	return a
}

// sps reads the picture size of an SPS NAL unit (header included).
func (a *analyzer) sps(nal []byte) {
	if len(nal) == 0 {
		return
	}
	if a.h265 {
		var s h265.SPS
		if s.Unmarshal(nal) == nil {
			a.info.Width, a.info.Height = s.Width(), s.Height()
		}
		return
	}
	var s h264.SPS
	if s.Unmarshal(nal) == nil {
		a.info.Width, a.info.Height = s.Width(), s.Height()
	}
}

// packet takes the next video packet of the pull.
func (a *analyzer) packet(p *rtp.Packet, now time.Time) {
	a.rate(p.MarshalSize(), now)
	if a.inAU && p.Timestamp != a.curTS {
		a.closeAU()
	}
	if !a.inAU {
		a.inAU, a.curTS, a.curB, a.curBRef = true, p.Timestamp, false, false
	}
	eachNALStart(a.h265, p.Payload, func(n nalStart) {
		switch {
		case isKeyNAL(a.h265, n.typ):
			if a.keySeen && a.frames > 0 {
				a.info.Known = true // a whole GOP seen: short GOPs settle here
				a.gopSeen = true
			}
			a.keySeen = true
		case !a.h265 && n.typ == h264SPS && a.info.Width == 0:
			a.sps(append([]byte{0x67}, n.body...))
		case !a.h265 && n.typ == h264NonIDR:
			if _, st, ok := h264SliceType(n.body); ok && st == sliceB {
				a.curB = true
				a.curBRef = a.curBRef || n.ref
			}
		}
	})
	if p.Marker {
		a.closeAU()
	}
}

// closeAU counts the access unit that just ended.
func (a *analyzer) closeAU() {
	if !a.inAU {
		return
	}
	a.inAU = false
	ts := a.curTS
	if a.havePrev {
		d := int32(ts - a.prevTS)
		if d < 0 {
			// Sent out of display order: there are B-frames, whatever
			// the slices said (H.265's are not parsed).
			a.info.BFrames = true
			if a.h265 {
				a.info.BFramesReferenced = true
			}
		}
		a.unwrap += int64(d)
	}
	a.prevTS, a.havePrev = ts, true
	if !a.keySeen {
		return
	}
	if a.frames == 0 {
		a.tsMin, a.tsMax = a.unwrap, a.unwrap
	}
	a.tsMin, a.tsMax = min(a.tsMin, a.unwrap), max(a.tsMax, a.unwrap)
	a.frames++
	switch {
	case a.curB && a.curBRef:
		a.brefs++
		a.info.BFrames, a.info.BFramesReferenced = true, true
	case a.curB:
		a.bframes++
		a.info.BFrames = true
	}
	if a.curB {
		a.bRun++
		a.maxBRun = max(a.maxBRun, a.bRun)
	} else {
		a.bRun = 0
	}
	if span := a.tsMax - a.tsMin; a.frames > 1 && span > 0 {
		a.info.FPS = float64(a.frames-1) * 90000 / float64(span)
		if a.gopSeen {
			a.info.ReferenceFPS = a.info.FPS * float64(a.frames-a.bframes) / float64(a.frames)
		} else {
			// Part of a GOP only: the pattern tells, one reference frame
			// for every run of B-frames.
			a.info.ReferenceFPS = a.info.FPS / float64(a.maxBRun+1)
		}
	}
	if a.frames >= settleFrames {
		a.info.Known = true
	}
}

// rate adds n bytes to the bitrate measurement.
func (a *analyzer) rate(n int, now time.Time) {
	if a.winStart.IsZero() {
		a.winStart = now
	}
	a.winBytes += n
	if d := now.Sub(a.winStart); d >= rateWindow {
		a.info.Kbps = int(int64(a.winBytes) * 8 * int64(time.Millisecond) / int64(d))
		a.winStart, a.winBytes = now, 0
	}
}
