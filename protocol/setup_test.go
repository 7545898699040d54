package protocol

import (
	"strings"
	"testing"
)

func TestTestToneArgs(t *testing.T) {
	if err := (TestToneArgs{Speaker: "horn-1"}).Validate(); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"", "喇叭", "a/b", strings.Repeat("a", 65)} {
		if err := (TestToneArgs{Speaker: bad}).Validate(); err == nil {
			t.Errorf("speaker %q accepted", bad)
		}
	}
	var a TestToneArgs
	if err := DecodeArgs([]byte(`{"speaker":"horn-1","volume":3}`), &a); err == nil {
		t.Error("an unknown field decoded")
	}
}

func TestProbeArgs(t *testing.T) {
	good := ProbeArgs{Camera: "gate", URL: "rtsp://192.168.1.64:554/Streaming/Channels/101", Username: "admin", Password: "密码", Transport: "udp"}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		edit func(*ProbeArgs)
		want string
	}{
		{"bad camera id", func(a *ProbeArgs) { a.Camera = "村口" }, "camera:"},
		{"no url", func(a *ProbeArgs) { a.URL = "" }, "url"},
		{"http", func(a *ProbeArgs) { a.URL = "http://192.168.1.64/" }, "want rtsp://"},
		{"credentials in the url", func(a *ProbeArgs) { a.URL = "rtsp://admin:x@192.168.1.64/" }, "credentials in username"},
		{"line break", func(a *ProbeArgs) { a.Password = "a\nb" }, "credentials"},
		{"transport", func(a *ProbeArgs) { a.Transport = "quic" }, "transport"},
		{"the box itself", func(a *ProbeArgs) { a.URL = "rtsp://127.0.0.1:8554/cam1" }, "the box"},
		{"cloud metadata", func(a *ProbeArgs) { a.URL = "rtsp://169.254.169.254/" }, "url"},
	}
	for _, c := range cases {
		a := good
		c.edit(&a)
		if err := a.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error with %q", c.name, err, c.want)
		}
	}
	a := good
	a.Camera = ""
	if err := a.Validate(); err != nil {
		t.Errorf("a probe of a camera not saved yet: %v", err)
	}
}
