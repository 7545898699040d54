package poster

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"io"
	"os"
	"strings"

	"golang.org/x/image/font"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/font/sfnt"
	"golang.org/x/image/math/fixed"
)

// The poster as a picture, for group chats and phones: drawn in Go with a
// CJK font (Debian's fonts-noto-cjk), no browser. Its content is the
// HTML poster's: title, the red and the black list, entries on public
// notice marked 公示, the date.

// Picture sizes.
const (
	SizeA4    = "A4"    // 1240 px wide, 150 dpi A4 portrait; taller when the list needs it
	SizePhone = "phone" // 1080 px wide, as tall as the list
)

// DefaultFontPath is where Debian's fonts-noto-cjk puts its sans face.
const DefaultFontPath = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"

// Font is a parsed CJK font, safe for concurrent use: each drawing makes
// its own faces.
type Font struct {
	f    *sfnt.Font
	name string
}

// Name is the font's family name.
func (f *Font) Name() string { return f.name }

// LoadFont reads a font file: an OpenType collection (.ttc, from which the
// Simplified Chinese face is taken) or a single font (.otf, .ttf).
func LoadFont(path string) (*Font, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("poster: font: %w", err)
	}
	return ParseFont(b)
}

// ParseFont parses a collection or a single font from its bytes.
func ParseFont(b []byte) (*Font, error) {
	if c, err := opentype.ParseCollection(b); err == nil && c.NumFonts() > 1 {
		var first *Font
		for i := range c.NumFonts() {
			f, err := c.Font(i)
			if err != nil {
				continue
			}
			name, _ := f.Name(nil, sfnt.NameIDFamily) // a face without a name is still a face
			if first == nil {
				first = &Font{f: f, name: name}
			}
			// The collection holds Japanese, Korean and both Chinese
			// faces; their glyphs differ, and SC is the mainland's.
			if strings.HasSuffix(name, " SC") {
				return &Font{f: f, name: name}, nil
			}
		}
		if first != nil {
			return first, nil
		}
	}
	f, err := opentype.Parse(b)
	if err != nil {
		return nil, fmt.Errorf("poster: font: %w", err)
	}
	name, _ := f.Name(nil, sfnt.NameIDFamily) // a face without a name is still a face
	return &Font{f: f, name: name}, nil
}

// layout is one picture size's geometry, in pixels.
type layout struct {
	width, minHeight int
	margin           int
	title, head      float64 // font sizes
	body, small      float64
}

func layoutOf(size string) (layout, error) {
	switch size {
	case SizeA4, "":
		return layout{width: 1240, minHeight: 1754, margin: 80, title: 64, head: 44, body: 30, small: 24}, nil
	case SizePhone:
		return layout{width: 1080, minHeight: 0, margin: 48, title: 60, head: 44, body: 34, small: 27}, nil
	}
	return layout{}, fmt.Errorf("%w: picture size %q: want A4 or phone", ErrBadData, size)
}

// Colours of the picture.
var (
	colRed    = color.RGBA{0xc0, 0x00, 0x00, 0xff}
	colBlack  = color.RGBA{0x22, 0x22, 0x22, 0xff}
	colGrey   = color.RGBA{0x55, 0x55, 0x55, 0xff}
	colRule   = color.RGBA{0xcc, 0xcc, 0xcc, 0xff}
	colNotice = color.RGBA{0xd4, 0x6b, 0x00, 0xff}
	colWhite  = color.RGBA{0xff, 0xff, 0xff, 0xff}
)

// maxHeight bounds a picture: WeCom takes 2 MB, and a list that would be
// taller is cut with a note.
const maxHeight = 12000

// canvas draws text onto an image, top to bottom.
type canvas struct {
	img   *image.RGBA
	l     layout
	y     int // the top of what is drawn next
	faces map[float64]font.Face
	f     *Font
	cut   bool
	// dry measures without drawing: the first pass, which finds the
	// height, so the picture is allocated and filled only as tall as it is.
	dry bool
}

func (c *canvas) face(size float64) (font.Face, error) {
	if fc, ok := c.faces[size]; ok {
		return fc, nil
	}
	fc, err := opentype.NewFace(c.f.f, &opentype.FaceOptions{Size: size, DPI: 72, Hinting: font.HintingNone})
	if err != nil {
		return nil, fmt.Errorf("poster: face: %w", err)
	}
	c.faces[size] = fc
	return fc, nil
}

func (c *canvas) close() {
	for _, fc := range c.faces {
		_ = fc.Close() // opentype faces hold no resources
	}
}

// text draws s at x with its top at y and returns its width.
func (c *canvas) text(fc font.Face, s string, x, y int, col color.Color) int {
	if c.dry {
		return font.MeasureString(fc, s).Ceil()
	}
	d := font.Drawer{Dst: c.img, Src: image.NewUniform(col), Face: fc}
	m := fc.Metrics()
	d.Dot = fixed.Point26_6{X: fixed.I(x), Y: fixed.I(y) + m.Ascent}
	d.DrawString(s)
	return d.Dot.X.Ceil() - x
}

// wrap breaks s into lines no wider than w, adding glyph advances (CJK
// text has no kerning worth measuring).
func wrap(fc font.Face, s string, w int) []string {
	var lines []string
	var line []rune
	var width fixed.Int26_6
	limit := fixed.I(w)
	for _, r := range s {
		adv, ok := fc.GlyphAdvance(r)
		if !ok {
			adv, _ = fc.GlyphAdvance('□')
		}
		if len(line) > 0 && width+adv > limit {
			lines = append(lines, string(line))
			line, width = line[:0:0], 0
		}
		line = append(line, r)
		width += adv
	}
	if len(line) > 0 || len(lines) == 0 {
		lines = append(lines, string(line))
	}
	return lines
}

func lineHeight(fc font.Face) int {
	m := fc.Metrics()
	return (m.Ascent + m.Descent).Ceil() + 6
}

func (c *canvas) fill(r image.Rectangle, col color.Color) {
	if c.dry {
		return
	}
	draw.Draw(c.img, r, image.NewUniform(col), image.Point{}, draw.Src)
}

// RenderPNG draws d as a PNG picture of size (SizeA4 or SizePhone) with
// font f. Nothing is written if d is refused.
func RenderPNG(w io.Writer, d Data, f *Font, size string) error {
	if f == nil {
		return fmt.Errorf("%w: no font", ErrBadData)
	}
	l, err := layoutOf(size)
	if err != nil {
		return err
	}
	d.Size = ""
	if _, err := check(d); err != nil {
		return err
	}
	c := &canvas{l: l, faces: map[float64]font.Face{}, f: f, dry: true}
	defer c.close()
	if err := c.draw(d); err != nil {
		return err
	}
	h := min(max(c.y+l.margin, l.minHeight), maxHeight)
	c.img, c.dry, c.cut = image.NewRGBA(image.Rect(0, 0, l.width, h)), false, false
	c.fill(c.img.Bounds(), colWhite)
	if err := c.draw(d); err != nil {
		return err
	}
	enc := png.Encoder{CompressionLevel: png.BestSpeed}
	if err := enc.Encode(w, c.img); err != nil {
		return fmt.Errorf("poster: png: %w", err)
	}
	return nil
}

func (c *canvas) draw(d Data) error {
	l := c.l
	title, err := c.face(l.title)
	if err != nil {
		return err
	}
	head, err := c.face(l.head)
	if err != nil {
		return err
	}
	body, err := c.face(l.body)
	if err != nil {
		return err
	}
	small, err := c.face(l.small)
	if err != nil {
		return err
	}
	inner := l.width - 2*l.margin
	c.y = l.margin
	if d.Township != "" {
		tw := font.MeasureString(small, d.Township).Ceil()
		c.text(small, d.Township, (l.width-tw)/2, c.y, colGrey)
		c.y += lineHeight(small)
	}
	for _, line := range wrap(title, strings.Join(nonEmpty(d.Village, d.Period, "红黑榜"), " "), inner) {
		tw := font.MeasureString(title, line).Ceil()
		c.text(title, line, (l.width-tw)/2, c.y, colBlack)
		c.y += lineHeight(title)
	}
	c.fill(image.Rect(l.margin, c.y+8, l.width-l.margin, c.y+14), colRed)
	c.y += 40
	if !d.NoticeEnds.IsZero() {
		note := noticeText(d.NoticeEnds)
		for _, line := range wrap(body, note, inner) {
			c.text(body, line, l.margin, c.y, colNotice)
			c.y += lineHeight(body)
		}
		c.y += 16
	}
	for _, sec := range []struct {
		name  string
		col   color.RGBA
		rows  []Entry
		extra string
	}{
		{"光荣榜（红榜）", colRed, d.Red, ""},
		{"曝光台（黑榜）", colBlack, d.Black, "上榜户整改到位、经村委会复核后，即从本榜撤下。"},
	} {
		hh := lineHeight(head) + 16
		c.fill(image.Rect(l.margin, c.y, l.width-l.margin, c.y+hh), sec.col)
		c.text(head, sec.name, l.margin+24, c.y+8, colWhite)
		c.y += hh + 12
		if sec.extra != "" {
			c.text(small, sec.extra, l.margin, c.y, colGrey)
			c.y += lineHeight(small) + 4
		}
		if len(sec.rows) == 0 {
			c.text(body, "本期无", l.margin+24, c.y, colGrey)
			c.y += lineHeight(body) + 24
			continue
		}
		for i, e := range sec.rows {
			if c.y > maxHeight-6*lineHeight(body) {
				c.cut = true
				break
			}
			c.row(e, body, small, inner, sec.col)
			if i < len(sec.rows)-1 {
				c.fill(image.Rect(l.margin, c.y, l.width-l.margin, c.y+1), colRule)
				c.y += 12
			}
		}
		c.y += 32
	}
	if c.cut {
		c.text(body, "（榜单过长，余下条目请见公示栏）", l.margin, c.y, colGrey)
		c.y += lineHeight(body)
	}
	if !d.Issued.IsZero() {
		s := "发布日期：" + d.Issued.Format("2006年1月2日")
		tw := font.MeasureString(small, s).Ceil()
		c.text(small, s, l.width-l.margin-tw, c.y, colGrey)
		c.y += lineHeight(small)
	}
	return nil
}

// row draws one entry: the name (and household), the 公示 tag and the
// points on its first line, the category and the wrapped reason below.
func (c *canvas) row(e Entry, body, small font.Face, inner int, col color.Color) {
	l := c.l
	x := l.margin + 8
	x += c.text(body, e.Name, x, c.y, colBlack)
	if e.Household != "" && !strings.HasPrefix(e.Name, e.Household) {
		x += 12
		x += c.text(small, e.Household+"户", x, c.y+6, colGrey)
	}
	if e.Notice {
		x += 16
		tw := font.MeasureString(small, "公示").Ceil()
		c.fill(image.Rect(x, c.y+2, x+tw+16, c.y+lineHeight(small)+4), colNotice)
		c.text(small, "公示", x+8, c.y+5, colWhite)
	}
	p := points(e.Points)
	pw := font.MeasureString(body, p).Ceil()
	c.text(body, p, l.width-l.margin-8-pw, c.y, col)
	c.y += lineHeight(body) + 2
	lines := wrap(small, e.Category+" · "+e.Reason, inner-16)
	for _, line := range lines {
		c.text(small, line, l.margin+8, c.y, colGrey)
		c.y += lineHeight(small)
	}
	c.y += 10
}
