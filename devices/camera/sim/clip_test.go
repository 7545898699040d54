package sim

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
)

func TestParseClip(t *testing.T) {
	for _, c := range []struct {
		name string
		clip []byte
		want ClipInfo
	}{
		{"default", DefaultClip(), ClipInfo{"H.264", "Constrained Baseline", 640, 360, 50, false}},
		{"high", fixture(t, "high-1280x720.h264"), ClipInfo{"H.264", "High", 1280, 720, 50, false}},
		// Parameter sets only once, at the start: each IDR gets them.
		{"params once", paramsOnce(t, DefaultClip()), ClipInfo{"H.264", "Constrained Baseline", 640, 360, 50, false}},
		// A clip cut mid-GOP starts at its first IDR.
		{"starts mid-GOP", startAt(t, DefaultClip(), 10), ClipInfo{"H.264", "Constrained Baseline", 640, 360, 25, false}},
		{"B-frames", fixture(t, "bframes-640x360.h264"), ClipInfo{"H.264", "High", 640, 360, 50, true}},
		{"B-pyramid", fixture(t, "bpyramid-640x360.h264"), ClipInfo{"H.264", "High", 640, 360, 50, true}},
		{"H.265", fixture(t, "h265-640x360.h265"), ClipInfo{"H.265", "Main", 640, 360, 25, false}},
	} {
		t.Run(c.name, func(t *testing.T) {
			cl, err := parseClip(c.clip)
			if err != nil {
				t.Fatal(err)
			}
			if cl.info != c.want {
				t.Errorf("info %+v; want %+v", cl.info, c.want)
			}
			if c.want.Codec == "H.265" {
				return
			}
			if !h264.IsRandomAccess(cl.aus[0]) {
				t.Error("the clip does not start with an IDR")
			}
			for i, au := range cl.aus {
				if h264.IsRandomAccess(au) && !hasParams(au) {
					t.Errorf("frame %d: an IDR without SPS and PPS", i)
				}
				for _, n := range au {
					if typ := n[0] & 0x1f; typ == 9 || typ == 12 {
						t.Errorf("frame %d carries a NAL unit of type %d", i, typ)
					}
				}
			}
		})
	}
}

func TestParseClipRefuses(t *testing.T) {
	for _, c := range []struct {
		name string
		clip []byte
		want string
	}{
		{"empty", nil, "Annex-B"},
		{"start code only", []byte{0, 0, 0, 1}, "no NAL units"},
		{"no IDR", startAt(t, DefaultClip(), 26)[:2000], "IDR"},
		{"forbidden bit", []byte{0, 0, 1, 0x85, 1, 2}, "forbidden"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseClip(c.clip)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v; want one mentioning %q", err, c.want)
			}
		})
	}
}

// A clip with B-frames is shown in presentation order: in decode order
// I P B B P B B ..., each B shown before the P sent ahead of it, every
// frame shown once per GOP.
func TestPresentationOrder(t *testing.T) {
	c, err := parseClip(fixture(t, "bframes-640x360.h264"))
	if err != nil {
		t.Fatal(err)
	}
	if want := []int{0, 2, -1, -1, 2, -1, -1}; !slices.Equal(c.shift[:7], want) {
		t.Errorf("shifts %v; want %v", c.shift[:7], want)
	}
	shown := map[int]bool{}
	for i, s := range c.shift[:25] {
		shown[i+s] = true
	}
	if len(shown) != 25 {
		t.Errorf("the first GOP shows %d distinct frame times; want 25", len(shown))
	}
	if d, _ := parseClip(DefaultClip()); slices.ContainsFunc(d.shift, func(s int) bool { return s != 0 }) {
		t.Error("a clip without B-frames is shifted")
	}
}

func TestDefaultClipIsACopy(t *testing.T) {
	a := DefaultClip()
	a[0] = 0xff
	if DefaultClip()[0] == 0xff {
		t.Error("DefaultClip hands out the embedded bytes themselves")
	}
}

// paramsOnce rewrites b keeping only the first SPS and PPS.
func paramsOnce(t *testing.T, b []byte) []byte {
	t.Helper()
	nalus, err := splitAnnexB(b)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	seen := map[byte]bool{}
	for _, n := range nalus {
		typ := n[0] & 0x1f
		if (typ == 7 || typ == 8) && seen[typ] {
			continue
		}
		seen[typ] = true
		out.Write([]byte{0, 0, 0, 1})
		out.Write(n)
	}
	return out.Bytes()
}

// startAt rewrites b without its first n frames (and their parameter
// sets), as a clip cut mid-GOP.
func startAt(t *testing.T, b []byte, n int) []byte {
	t.Helper()
	c, err := parseClip(b)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	for _, au := range c.aus[n:] {
		for _, nalu := range au {
			out.Write([]byte{0, 0, 1})
			out.Write(nalu)
		}
	}
	return out.Bytes()
}
