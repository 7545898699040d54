package relay

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/pion/rtp"
)

// upstreamTimeout is the read/write timeout of a camera pull: how long a
// silent camera (UDP, or a TCP peer that vanished without a FIN) goes
// unnoticed.
const upstreamTimeout = 10 * time.Second

// errNoVideo is a camera that offers no track the relay passes through.
var errNoVideo = errors.New("the camera offers no H.264 or H.265 video track")

// upstream is one pull of a camera: a gortsplib client that has SETUP
// the camera's video track (and its audio track, if it has one the relay
// passes on), and the description the box re-serves.
type upstream struct {
	c     *gortsplib.Client
	medi  *description.Media // the camera's video track
	forma format.Format      // the camera's format on it
	desc  *description.Session
	out   *description.Media // the re-served video track in desc
	// The audio track, nil for none: the camera's and the re-served one.
	audioIn, audioOut *description.Media
	audioForma        format.Format
	done              chan error // gets the client's end, once
}

// openUpstream connects to the camera, DESCRIBEs it and SETUPs its video
// track; ctx ending aborts it. The caller plays it (play) and closes it.
func openUpstream(ctx context.Context, cam Camera) (*upstream, error) {
	u, err := base.ParseURL(cam.URL)
	if err != nil {
		return nil, fmt.Errorf("parse url: %w", err)
	}
	if cam.Username != "" {
		u.User = url.UserPassword(cam.Username, cam.Password)
	}
	c := &gortsplib.Client{
		Scheme:       u.Scheme,
		Host:         u.Host,
		Protocol:     cam.protocol(),
		ReadTimeout:  upstreamTimeout,
		WriteTimeout: upstreamTimeout,
	}
	if !cam.AllowLocal {
		c.DialContext = (&net.Dialer{Control: refuseLocal}).DialContext
	}
	if err := c.Start(); err != nil {
		return nil, fmt.Errorf("start client: %w", err)
	}
	// Describe and Setup block without a context: closing the client is
	// what aborts them.
	stop := context.AfterFunc(ctx, c.Close)
	up, err := setup(c, u)
	if !stop() || err != nil {
		c.Close()
		if err == nil {
			err = ctx.Err()
		}
		return nil, err
	}
	return up, nil
}

func setup(c *gortsplib.Client, u *base.URL) (*upstream, error) {
	desc, _, err := c.Describe(u)
	if err != nil {
		return nil, fmt.Errorf("describe: %w", err)
	}
	medi, forma, out := pickVideo(desc)
	if medi == nil {
		return nil, errNoVideo
	}
	if _, err := c.Setup(desc.BaseURL, medi, 0, 0); err != nil {
		return nil, fmt.Errorf("setup: %w", err)
	}
	up := &upstream{
		c:     c,
		medi:  medi,
		forma: forma,
		desc:  &description.Session{Title: desc.Title, Medias: []*description.Media{out}},
		out:   out,
		done:  make(chan error, 1),
	}
	if am, af, aout := pickAudio(desc); am != nil {
		// A camera whose audio track cannot be set up still gives its
		// picture.
		if _, err := c.Setup(desc.BaseURL, am, 0, 0); err == nil {
			up.audioIn, up.audioForma, up.audioOut = am, af, aout
			up.desc.Medias = append(up.desc.Medias, aout)
		}
	}
	return up, nil
}

// pickAudio finds the first G.711 or AAC audio format and returns a media
// of its own to re-serve. G.711 goes to WebRTC viewers too; AAC, which
// browsers' WebRTC does not play, to RTSP readers only.
func pickAudio(desc *description.Session) (*description.Media, format.Format, *description.Media) {
	for _, m := range desc.Medias {
		if m.Type != description.MediaTypeAudio || m.IsBackChannel {
			continue
		}
		for _, f := range m.Formats {
			var cp format.Format
			switch f := f.(type) {
			case *format.G711:
				cp = &format.G711{PayloadTyp: f.PayloadTyp, MULaw: f.MULaw, SampleRate: f.SampleRate, ChannelCount: f.ChannelCount}
			case *format.MPEG4Audio:
				cp = &format.MPEG4Audio{PayloadTyp: f.PayloadTyp, ProfileLevelID: f.ProfileLevelID, Config: f.Config,
					SizeLength: f.SizeLength, IndexLength: f.IndexLength, IndexDeltaLength: f.IndexDeltaLength}
			default:
				continue
			}
			return m, f, &description.Media{Type: description.MediaTypeAudio, Formats: []format.Format{cp}}
		}
	}
	return nil, nil, nil
}

// audioName names an audio format as StreamInfo does.
func audioName(f format.Format) string {
	switch f := f.(type) {
	case *format.G711:
		if f.MULaw {
			return "PCMU"
		}
		return "PCMA"
	case *format.MPEG4Audio:
		return "AAC"
	}
	return ""
}

// pickVideo finds the first H.264 or H.265 format and returns a media of
// its own to re-serve, with a copy of the format (the parameter sets
// included): the server's stream and the client must share nothing
// mutable.
func pickVideo(desc *description.Session) (*description.Media, format.Format, *description.Media) {
	for _, m := range desc.Medias {
		if m.Type != description.MediaTypeVideo || m.IsBackChannel {
			continue
		}
		for _, f := range m.Formats {
			var cp format.Format
			switch f := f.(type) {
			case *format.H264:
				cp = &format.H264{PayloadTyp: f.PayloadTyp, SPS: f.SPS, PPS: f.PPS, PacketizationMode: f.PacketizationMode}
			case *format.H265:
				cp = &format.H265{PayloadTyp: f.PayloadTyp, VPS: f.VPS, SPS: f.SPS, PPS: f.PPS, MaxDONDiff: f.MaxDONDiff}
			default:
				continue
			}
			return m, f, &description.Media{Type: description.MediaTypeVideo, Formats: []format.Format{cp}}
		}
	}
	return nil, nil, nil
}

// play starts the flow: each packet of the tracks goes to onPacket with
// the camera's wall clock time when its RTCP told it, else now. The
// client's end (an error, or nil after close) arrives on up.done; the
// goroutine that waits for it ends when the client does.
func (up *upstream) play(onPacket func(pkt *rtp.Packet, audio bool, ntp time.Time)) error {
	up.c.OnPacketRTP(up.medi, up.forma, func(pkt *rtp.Packet) {
		ntp, ok := up.c.PacketNTP(up.medi, pkt)
		if !ok {
			ntp = time.Now()
		}
		onPacket(pkt, false, ntp)
	})
	if up.audioIn != nil {
		up.c.OnPacketRTP(up.audioIn, up.audioForma, func(pkt *rtp.Packet) {
			ntp, ok := up.c.PacketNTP(up.audioIn, pkt)
			if !ok {
				ntp = time.Now()
			}
			onPacket(pkt, true, ntp)
		})
	}
	if _, err := up.c.Play(nil); err != nil {
		return fmt.Errorf("play: %w", err)
	}
	go func() { up.done <- up.c.Wait() }()
	return nil
}

// close stops the client and returns once its goroutines are gone, so no
// packet callback runs after it.
func (up *upstream) close() { up.c.Close() }
