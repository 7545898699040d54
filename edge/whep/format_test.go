package whep

import (
	"errors"
	"strings"
	"testing"

	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
)

// The camera's H.264 is found whatever comes before it: an audio media, or
// H.265 offered beside it. Only a camera without H.264 is refused, and the
// refusal names what it has.
func TestVideoFormatFindsH264Anywhere(t *testing.T) {
	h264 := &format.H264{PayloadTyp: 96, PacketizationMode: 1, SPS: []byte{0x67, 0x64, 0x00, 0x28}, PPS: []byte{0x68, 0xee}}
	h265 := &format.H265{PayloadTyp: 97}
	pcma := &format.G711{PayloadTyp: 8, SampleRate: 8000, ChannelCount: 1}
	media := func(typ description.MediaType, f ...format.Format) *description.Media {
		return &description.Media{Type: typ, Formats: f}
	}
	cases := []struct {
		name   string
		medias []*description.Media
		errHas string // "" when h264 is to be found
	}{
		{"video alone", []*description.Media{media(description.MediaTypeVideo, h264)}, ""},
		{"audio before video", []*description.Media{media(description.MediaTypeAudio, pcma), media(description.MediaTypeVideo, h264)}, ""},
		{"H.265 and H.264 in one media", []*description.Media{media(description.MediaTypeVideo, h265, h264)}, ""},
		{"H.265 and H.264 in two medias", []*description.Media{media(description.MediaTypeVideo, h265), media(description.MediaTypeAudio, pcma), media(description.MediaTypeVideo, h264)}, ""},
		{"H.265 only", []*description.Media{media(description.MediaTypeVideo, h265), media(description.MediaTypeAudio, pcma)}, "no H.264 among H265, PCMA"},
		{"nothing", nil, "no media"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := videoFormat(&description.Session{Medias: c.medias})
			if c.errHas == "" {
				if err != nil || got != h264 {
					t.Fatalf("got %v, %v; want the H.264 format", got, err)
				}
				return
			}
			if !errors.Is(err, ErrUnsupportedCodec) || !strings.Contains(err.Error(), c.errHas) {
				t.Fatalf("err = %v, want ErrUnsupportedCodec with %q", err, c.errHas)
			}
		})
	}
}
