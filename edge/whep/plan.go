package whep

import (
	"cmp"
	"errors"
	"fmt"

	"github.com/dalaba/dalaba/edge/relay"
	"github.com/dalaba/dalaba/protocol"
)

// What a viewer is shown. A camera has a main stream and maybe a sub
// stream; a browser's WebRTC plays H.264 (and H.265 only where the
// browser offers it) and cannot reorder B-frames. So, for a viewer asking
// for a stream:
//
//   - a stream in a codec the viewer's offer lacks is not shown;
//   - a stream whose B-frames are references of other frames (a pyramid)
//     is not shown: leaving them out would break the frames after them;
//   - a main stream with B-frames gives way to the sub stream, if the
//     camera has one without them; otherwise it is shown without its
//     B-frames, which nothing refers to (the feed leaves them out), at
//     the rate of the other frames;
//   - a main stream that would take the box past its budget gives way to
//     the sub stream.
//
// What the box knows of a stream comes from its last pull (relay.Info); a
// stream never pulled is learnt as it is subscribed, and the plan is
// looked at again then. Whatever is chosen, the result says which stream,
// codec and frames the viewer gets and why (protocol.Note*), and a camera
// that cannot be shown at all is refused with a code and a sentence that
// says what to change in the camera (Refusal).

// ErrNotViewable is wrapped by every Refusal.
var ErrNotViewable = errors.New("camera cannot be shown in this browser")

// Refusal is a camera that cannot be shown to a viewer: Code is one of
// protocol's CodeCamera* codes, Reason says what to change in the camera.
// The command runner answers the command with Code.
type Refusal struct {
	Code, Reason string
}

func (r *Refusal) Error() string      { return r.Reason }
func (r *Refusal) Unwrap() error      { return ErrNotViewable }
func (r *Refusal) ResultCode() string { return r.Code }

// choice is one way to show a camera: a stream, with why it is not the
// one asked for.
type choice struct {
	stream string // protocol.StreamMain or StreamSub
	note   string // protocol.Note*, "" when it is what was asked
	kbps   int    // what it is expected to cost the budget
}

// camConf is what the desired state says of a camera for viewing.
type camConf struct {
	hasSub            bool
	mainKbps, subKbps int // declared, 0 if not
}

// verdict says whether a stream that info describes can go to a viewer
// with offer o; nil when it can.
func verdict(info relay.StreamInfo, o offer) *Refusal {
	switch {
	case info.Codec == relay.CodecH265 && len(o.h265) == 0:
		return &Refusal{Code: protocol.CodeCameraCodec,
			Reason: "the camera sends H.265, which this browser does not play over WebRTC; set the camera's main or sub stream to H.264"}
	case info.Codec != relay.CodecH265 && len(o.h264) == 0:
		return &Refusal{Code: protocol.CodeCameraCodec,
			Reason: "the camera sends H.264, which this browser's offer lacks; use a browser that plays H.264"}
	case info.Known && info.BFramesReferenced:
		return &Refusal{Code: protocol.CodeCameraBFrames,
			Reason: "the camera sends B-frames that other frames refer to, which a browser cannot play live; turn B-frames off in the camera's video encoding settings (B帧 0, or the H.264 profile to Main without B-frames)"}
	}
	return nil
}

// plan lists the ways to show camera to a viewer with offer o asking for
// stream, best first, within the budget room left (0: no budget); or the
// refusal when there is none.
func (s *Server) plan(camera, stream string, o offer, conf camConf, room int, budgeted bool) ([]choice, error) {
	want := cmp.Or(stream, protocol.StreamMain)
	info := func(st string) relay.StreamInfo {
		i, err := s.src.Info(relay.Path(camera, st))
		if err != nil {
			return relay.StreamInfo{}
		}
		return i
	}
	cost := func(st string, i relay.StreamInfo) int {
		if i.Kbps > 0 {
			return i.Kbps
		}
		if st == protocol.StreamSub {
			return cmp.Or(conf.subKbps, protocol.DefaultSubBitrateKbps)
		}
		return cmp.Or(conf.mainKbps, DefaultBitrateKbps)
	}
	mainInfo := info(protocol.StreamMain)
	var cands []choice
	if !conf.hasSub {
		note := ""
		if want == protocol.StreamSub {
			note = protocol.NoteNoSub
		}
		cands = []choice{{stream: protocol.StreamMain, note: note, kbps: cost(protocol.StreamMain, mainInfo)}}
	} else {
		subInfo := info(protocol.StreamSub)
		mainC := choice{stream: protocol.StreamMain, kbps: cost(protocol.StreamMain, mainInfo)}
		subC := choice{stream: protocol.StreamSub, kbps: cost(protocol.StreamSub, subInfo)}
		if want == protocol.StreamSub {
			cands = []choice{subC, mainC}
		} else {
			// The main stream gives way when it is known to be worse
			// than the sub stream for a browser.
			subBad := verdict(subInfo, o) != nil || (subInfo.Known && subInfo.BFrames)
			switch r := verdict(mainInfo, o); {
			case r != nil && r.Code == protocol.CodeCameraCodec:
				subC.note = protocol.NoteH265Sub
				cands = []choice{subC, mainC}
			case r != nil || (mainInfo.Known && mainInfo.BFrames && !subBad):
				subC.note = protocol.NoteBFramesSub
				cands = []choice{subC, mainC}
			default:
				subC.note = protocol.NoteBudgetSub
				cands = []choice{mainC, subC}
			}
		}
	}
	if !budgeted {
		return cands, nil
	}
	var fit []choice
	for _, c := range cands {
		if c.kbps <= room {
			fit = append(fit, c)
		}
	}
	if len(fit) == 0 {
		return nil, fmt.Errorf("%w: %d kbit/s of the budget left, camera %s needs %d kbit/s", ErrOverBudget, room, camera, minCost(cands))
	}
	return fit, nil
}

func minCost(cs []choice) int {
	m := cs[0].kbps
	for _, c := range cs[1:] {
		m = min(m, c.kbps)
	}
	return m
}
