package paging

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/pion/sdp/v3"

	"github.com/dalaba/dalaba/devices/speaker"
	"github.com/dalaba/dalaba/edge/rtcpeer"
)

// Errors Answer and Stop return, wrapped; read them with errors.Is.
var (
	ErrBadRequest      = errors.New("invalid paging request")
	ErrBadOffer        = rtcpeer.ErrBadOffer
	ErrNoAudio         = errors.New("offer sends no audio")
	ErrNoG711          = errors.New("offer has neither PCMA nor PCMU at 8 kHz")
	ErrZoneBusy        = errors.New("zone already being paged")
	ErrTooManySessions = errors.New("too many pages at once")
	ErrUnknownSession  = errors.New("no such paging session")
	ErrNotRunning      = errors.New("paging server not running")
)

// offered is the G.711 payload type the box takes from an offer.
type offered struct {
	Law speaker.Law
	PT  uint8
}

// parseOffer checks a pager's offer and picks what the box answers with:
// on the first audio m-line that sends, PCMA if offered, else PCMU.
func parseOffer(raw string) (offered, error) {
	sd, err := rtcpeer.ParseOffer(raw)
	if err != nil {
		return offered{}, err
	}
	var audio *sdp.MediaDescription
	why := "no audio m-line"
	for _, m := range sd.MediaDescriptions {
		if !strings.EqualFold(m.MediaName.Media, "audio") || m.MediaName.Port.Value == 0 {
			continue
		}
		if i := slices.IndexFunc(m.Attributes, func(a sdp.Attribute) bool { return a.Key == "recvonly" || a.Key == "inactive" }); i >= 0 {
			why = "its audio m-line is " + m.Attributes[i].Key
			continue
		}
		audio = m
		break
	}
	if audio == nil {
		return offered{}, fmt.Errorf("%w: %s", ErrNoAudio, why)
	}
	codecs, names, err := rtcpeer.Codecs(sd, audio)
	if err != nil {
		return offered{}, err
	}
	var pcmu, pcma *offered
	for _, c := range codecs {
		if c.ClockRate != 8000 || (c.EncodingParameters != "" && c.EncodingParameters != "1") {
			continue
		}
		switch {
		case strings.EqualFold(c.Name, "PCMA") && pcma == nil:
			pcma = &offered{Law: speaker.ALaw, PT: c.PT}
		case strings.EqualFold(c.Name, "PCMU") && pcmu == nil:
			pcmu = &offered{Law: speaker.ULaw, PT: c.PT}
		}
	}
	switch {
	case pcma != nil:
		return *pcma, nil
	case pcmu != nil:
		return *pcmu, nil
	}
	return offered{}, fmt.Errorf("%w (offered: %s)", ErrNoG711, strings.Join(names, " "))
}
