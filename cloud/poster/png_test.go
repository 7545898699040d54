package poster

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/png"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/dalaba/dalaba/internal/testenv"
)

// cjk loads Debian's Noto Sans CJK once per test binary.
var cjk = sync.OnceValues(func() (*Font, error) { return LoadFont(DefaultFontPath) })

func cjkFont(t testing.TB) *Font {
	t.Helper()
	if _, err := os.Stat(DefaultFontPath); err != nil {
		testenv.Missing(t, DefaultFontPath, "apt-get install fonts-noto-cjk (make deps)")
	}
	f, err := cjk()
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func decode(t testing.TB, b []byte) image.Image {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("the picture does not decode as PNG: %v", err)
	}
	return img
}

// inked counts the pixels of rows [y0, y1) that are not white.
func inked(img image.Image, y0, y1 int) int {
	n := 0
	b := img.Bounds()
	for y := max(y0, b.Min.Y); y < min(y1, b.Max.Y); y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if r, g, bl, _ := img.At(x, y).RGBA(); r != 0xffff || g != 0xffff || bl != 0xffff {
				n++
			}
		}
	}
	return n
}

func TestLoadFontTakesTheSimplifiedChineseFace(t *testing.T) {
	if f := cjkFont(t); f.Name() != "Noto Sans CJK SC" {
		t.Fatalf("face %q, want Noto Sans CJK SC", f.Name())
	}
	if _, err := ParseFont([]byte("not a font")); err == nil {
		t.Fatal("ParseFont took garbage")
	}
}

// TestRenderPNG: both sizes decode at their widths, A4 at least a page
// tall, the phone picture as tall as its list; Chinese text is drawn (ink
// under the title), and a notice entry adds the notice's sentence.
func TestRenderPNG(t *testing.T) {
	f := cjkFont(t)
	for _, c := range []struct {
		size          string
		width, minTop int
	}{{SizeA4, 1240, 1754}, {SizePhone, 1080, 0}} {
		var b bytes.Buffer
		if err := RenderPNG(&b, sample(), f, c.size); err != nil {
			t.Fatalf("%s: %v", c.size, err)
		}
		img := decode(t, b.Bytes())
		if img.Bounds().Dx() != c.width || img.Bounds().Dy() < c.minTop {
			t.Errorf("%s: %v, want %d wide and at least %d tall", c.size, img.Bounds(), c.width, c.minTop)
		}
		if n := inked(img, 60, 200); n < 2000 {
			t.Errorf("%s: only %d inked pixels where the title is", c.size, n)
		}
		if c.size == SizePhone {
			testenv.Screenshot(t, "poster-phone", b.Bytes())
		}
	}
	// The red band of the red list is red.
	var b bytes.Buffer
	if err := RenderPNG(&b, sample(), f, SizePhone); err != nil {
		t.Fatal(err)
	}
	img := decode(t, b.Bytes())
	red := 0
	for y := range img.Bounds().Dy() {
		if r, g, bl, _ := img.At(60, y).RGBA(); r>>8 == 0xc0 && g == 0 && bl == 0 {
			red++
		}
	}
	if red < 40 {
		t.Errorf("%d red rows at the left edge, want the red list's band", red)
	}
	plain := img.Bounds().Dy()
	d := sample()
	d.Red[0].Notice = true
	d.NoticeEnds = time.Date(2026, 11, 4, 9, 0, 0, 0, time.FixedZone("CST", 8*3600))
	b.Reset()
	if err := RenderPNG(&b, d, f, SizePhone); err != nil {
		t.Fatal(err)
	}
	if h := decode(t, b.Bytes()).Bounds().Dy(); h <= plain {
		t.Errorf("with a notice the picture is %d tall, without %d: the notice's sentence is missing", h, plain)
	}

}

func TestRenderPNGRefuses(t *testing.T) {
	f := cjkFont(t)
	var b bytes.Buffer
	for name, c := range map[string]struct {
		d    Data
		size string
		f    *Font
	}{
		"a size":     {sample(), "A3", f},
		"no village": {Data{Period: "2026年11月"}, SizeA4, f},
		"no font":    {sample(), SizeA4, nil},
		"a nameless": {Data{Village: "示范村", Period: "2026年11月", Red: []Entry{{Category: "x"}}}, SizePhone, f},
	} {
		if err := RenderPNG(&b, c.d, c.f, c.size); !errors.Is(err, ErrBadData) {
			t.Errorf("%s: %v, want ErrBadData", name, err)
		}
	}
	if b.Len() != 0 {
		t.Errorf("%d bytes written for refused pictures", b.Len())
	}
}

// thirty is a list of 30 entries, a village's busy month.
func thirty() Data {
	d := sample()
	d.Red, d.Black = nil, nil
	for i := range 30 {
		e := Entry{Name: fmt.Sprintf("张%c英", '一'+rune(i)), Household: "张大山", Category: "孝老爱亲", Reason: "悉心照料卧病在床的老人，邻里称道，村民代表一致推荐", Points: 10}
		if i%3 == 2 {
			e.Category, e.Reason, e.Points = "人居环境整治", "门前乱堆杂物占用道路，经劝说仍未清理", -5
			d.Black = append(d.Black, e)
		} else {
			d.Red = append(d.Red, e)
		}
	}
	return d
}

// BenchmarkRenderPNG30 draws a 30-entry list at both sizes and reports
// the picture's bytes.
func BenchmarkRenderPNG30(b *testing.B) {
	f := cjkFont(b)
	d := thirty()
	for _, size := range []string{SizeA4, SizePhone} {
		b.Run(size, func(b *testing.B) {
			var buf bytes.Buffer
			for b.Loop() {
				buf.Reset()
				if err := RenderPNG(&buf, d, f, size); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(buf.Len())/1024, "KiB")
		})
	}
}
