package lists

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"text/template"
)

// Announcement is what a template renders: one village's list of a
// period, red lines first, then black.
type Announcement struct {
	Village   string // the village's (box's) name, 村名
	Period    string // "2026-11"
	YearMonth string // "2026年11月"
	Red       []Line
	Black     []Line
}

// Line is one entry as spoken.
type Line struct {
	Name     string // a person's name, or "<户主>户" for a household
	Category string
	Reason   string // without its closing punctuation
	Points   int
}

// DefaultTemplate is the built-in wording (zh-CN). Townships replace it
// with Config.Template; the fields are Announcement's.
const DefaultTemplate = `各位村民请注意：现在播报{{.Village}}{{.YearMonth}}红黑榜。` +
	`{{if .Red}}红榜：{{range $i, $l := .Red}}{{if $i}}；{{end}}{{$l.Name}}，{{$l.Category}}，{{$l.Reason}}{{end}}。{{end}}` +
	`{{if .Black}}黑榜：{{range $i, $l := .Black}}{{if $i}}；{{end}}{{$l.Name}}，{{$l.Category}}，{{$l.Reason}}{{end}}。{{end}}` +
	`希望大家向先进学习，以反面典型为戒，共同建设文明和美乡村。`

// MaxText bounds a rendered announcement, in bytes: about ten minutes of
// speech, far more than a month's list needs.
const MaxText = 16 << 10

// sample is the data a template is tried on at start.
func sample() Announcement {
	return Announcement{
		Village: "示范村", Period: "2026-11", YearMonth: "2026年11月",
		Red:   []Line{{Name: "张三", Category: "孝老爱亲", Reason: "悉心照料瘫痪婆婆十年", Points: 10}},
		Black: []Line{{Name: "李四户", Category: "人居环境整治", Reason: "门前乱堆柴草", Points: -5}},
	}
}

// parseTemplate parses src and runs it on sample data, so a template that
// names a missing field or renders nothing fails at start.
func parseTemplate(src string) (*template.Template, error) {
	t, err := template.New("announcement").Option("missingkey=error").Parse(src)
	if err != nil {
		return nil, fmt.Errorf("template: %w", err)
	}
	text, err := execute(t, sample())
	if err != nil {
		return nil, fmt.Errorf("template: on sample data: %w", err)
	}
	if text == "" {
		return nil, errors.New("template: renders nothing on sample data")
	}
	return t, nil
}

func execute(t *template.Template, a Announcement) (string, error) {
	var b bytes.Buffer
	if err := t.Execute(&b, a); err != nil {
		return "", err
	}
	if b.Len() > MaxText {
		return "", fmt.Errorf("%d bytes of text, over %d", b.Len(), MaxText)
	}
	return strings.TrimSpace(b.String()), nil
}

// spoken trims the closing punctuation of a reason, which the template's
// own separators replace.
func spoken(reason string) string {
	return strings.TrimRight(reason, "。；，、.;,! ！")
}
