package fleetsim

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

func TestNewRefusesBadConfig(t *testing.T) {
	good := Config{BrokerURL: "tcp://127.0.0.1:1883", Boxes: []Box{{ID: "village-1", Password: "x"}}}
	if _, err := New(good, Deps{}); err != nil {
		t.Fatalf("a good config: %v", err)
	}
	for _, c := range []struct {
		name string
		edit func(*Config)
		says string
	}{
		{"no boxes", func(c *Config) { c.Boxes = nil }, "no boxes"},
		{"a box twice", func(c *Config) { c.Boxes = append(c.Boxes, c.Boxes[0]) }, "twice"},
		{"a bad box id", func(c *Config) { c.Boxes = []Box{{ID: "Village 1"}} }, "box id"},
		{"not tcp", func(c *Config) { c.BrokerURL = "ssl://127.0.0.1:8883" }, "tcp://"},
		{"slower than real time", func(c *Config) { c.Compress = 0.5 }, "compress"},
		{"a window too wide", func(c *Config) { c.Window = 65 }, "window"},
		{"backoff upside down", func(c *Config) { c.BackoffMin, c.BackoffMax = time.Minute, time.Second }, "backoff"},
	} {
		cfg := good
		cfg.Boxes = append([]Box(nil), good.Boxes...)
		c.edit(&cfg)
		if _, err := New(cfg, Deps{}); err == nil || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s: %v, want an error saying %q", c.name, err, c.says)
		}
	}
}

// Time compression divides every box-time duration.
func TestCompression(t *testing.T) {
	f, err := New(Config{BrokerURL: "tcp://127.0.0.1:1883", Boxes: []Box{{ID: "village-1"}}, Compress: 60}, Deps{})
	if err != nil {
		t.Fatal(err)
	}
	if got := f.real(time.Minute); got != time.Second {
		t.Fatalf("a box minute at ×60 is %s, want 1s", got)
	}
}

// The reconnect wait is spread over its whole range (full jitter) and
// never passes the cap.
func TestBackoffIsJitteredAndCapped(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	lo, hi := time.Second, time.Minute
	var below, above bool
	for range 1000 {
		d := backoff(10, lo, hi, r)
		if d < 0 || d > hi {
			t.Fatalf("wait %s outside [0, %s]", d, hi)
		}
		below = below || d < hi/4
		above = above || d > 3*hi/4
	}
	if !below || !above {
		t.Fatal("waits not spread over the range")
	}
	if d := backoff(0, lo, hi, r); d > lo {
		t.Fatalf("first wait %s above %s", d, lo)
	}
}
