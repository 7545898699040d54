package tts

import (
	"errors"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func TestCheckText(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		ok         bool
	}{
		{"sentence", "各位村民请注意，本月红榜：张三，孝老爱亲。", true},
		{"lines", "红榜：\r\n张三\t孝老爱亲\n", true},
		{"dash", "--help", true},
		{"max", strings.Repeat("好", MaxText), true},
		{"empty", "", false},
		{"spaces", " \t\n\u3000", false},
		{"too long", strings.Repeat("好", MaxText+1), false},
		{"nul", "张三\x00", false},
		{"escape", "张三\x1b[2J", false},
		{"del", "张三\x7f", false},
		{"c1", "张三\u0085", false},
		{"invalid utf-8", "张三\xff", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckText(tc.text)
			if tc.ok && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if !tc.ok && !errors.Is(err, ErrBadText) {
				t.Fatalf("err = %v, want ErrBadText", err)
			}
		})
	}
}

func TestNewRefusesUnknownEngine(t *testing.T) {
	_, err := New(Config{Engine: "festival"})
	if err == nil || !strings.Contains(err.Error(), `"festival"`) {
		t.Fatalf("err = %v", err)
	}
}

func TestConfigYAML(t *testing.T) {
	const doc = `
engine: http
espeak:
  voice: cmn
  speed: 120
  timeout: 30s
http:
  url: https://tts.example/api
  header: {Authorization: Bearer x}
  timeout: 5s
  max_bytes: 1048576
`
	var c Config
	if err := yaml.Unmarshal([]byte(doc), &c); err != nil {
		t.Fatal(err)
	}
	if c.Engine != "http" || c.Espeak.Speed != 120 || c.Espeak.Timeout.Seconds() != 30 ||
		c.HTTP.URL != "https://tts.example/api" || c.HTTP.Header["Authorization"] != "Bearer x" ||
		c.HTTP.Timeout.Seconds() != 5 || c.HTTP.MaxBytes != 1<<20 {
		t.Fatalf("decoded %+v", c)
	}
	e, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := e.(*HTTP); !ok || e.Name() != "http/tts.example" {
		t.Fatalf("New = %T %q", e, e.Name())
	}
}
