package config

import (
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/dalaba/dalaba/edge/logring"
	"github.com/dalaba/dalaba/edge/paging"
	"github.com/dalaba/dalaba/edge/relay"
	"github.com/dalaba/dalaba/edge/whep"
)

// yamlKeys lists the key paths of t's yaml tags ("relay.rtp_port"), and
// whether each holds a section (a struct) rather than a value.
func yamlKeys(t reflect.Type, prefix string) (keys []string, section map[string]bool) {
	section = map[string]bool{}
	var walk func(t reflect.Type, prefix string)
	walk = func(t reflect.Type, prefix string) {
		for f := range t.Fields() {
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name == "" || name == "-" {
				continue
			}
			path := prefix + name
			keys = append(keys, path)
			if f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeFor[time.Time]() {
				section[path] = true
				walk(f.Type, path+".")
			}
		}
	}
	walk(t, prefix)
	return keys, section
}

// lookup finds the key node and value node of a dotted path in a mapping.
func lookup(m *yaml.Node, path string) (key, value *yaml.Node) {
	for name := range strings.SplitSeq(path, ".") {
		if m == nil || m.Kind != yaml.MappingNode {
			return nil, nil
		}
		var next *yaml.Node
		for i := 0; i+1 < len(m.Content); i += 2 {
			if m.Content[i].Value == name {
				key, next = m.Content[i], m.Content[i+1]
				break
			}
		}
		if next == nil {
			return nil, nil
		}
		m = next
	}
	return key, m
}

// undocumented lists the keys of Config that the example YAML lacks, and
// the values among them that no comment explains.
func undocumented(t *testing.T, example []byte) []string {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal(example, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Content) != 1 {
		t.Fatal("the example is not one YAML document")
	}
	keys, section := yamlKeys(reflect.TypeFor[Config](), "")
	var missing []string
	for _, path := range keys {
		k, v := lookup(doc.Content[0], path)
		switch {
		case k == nil:
			missing = append(missing, path+" (absent)")
		case !section[path] && k.HeadComment == "" && k.LineComment == "" && v.LineComment == "":
			missing = append(missing, path+" (no comment)")
		}
	}
	return missing
}

// TestExampleDocumentsEveryKey: configs/edge.example.yaml is the manual,
// so each key the box reads is in it, with a comment saying what it does.
func TestExampleDocumentsEveryKey(t *testing.T) {
	b, err := os.ReadFile("../../configs/edge.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if missing := undocumented(t, b); len(missing) > 0 {
		t.Errorf("configs/edge.example.yaml does not document:\n  %s", strings.Join(missing, "\n  "))
	}
	// The check itself catches a key taken out, and a comment taken away.
	cut := strings.Replace(string(b), "  rtp_port: 0\n", "", 1)
	if m := undocumented(t, []byte(cut)); strings.Join(m, ",") != "relay.rtp_port (absent)" {
		t.Errorf("with relay.rtp_port taken out: %v", m)
	}
	bare := strings.Replace(string(b), "  # How long a camera is still pulled after its last viewer left.\n", "", 1)
	if m := undocumented(t, []byte(bare)); strings.Join(m, ",") != "relay.linger (no comment)" {
		t.Errorf("with relay.linger's comment taken away: %v", m)
	}
}

// TestDefaultsAreTheParts: what the box's file leaves out is what the
// parts themselves would choose.
func TestDefaultsAreTheParts(t *testing.T) {
	d := Default()
	for _, c := range []struct {
		key       string
		got, want any
	}{
		{"relay.listen", d.Relay.Listen, relay.DefaultListen},
		{"relay.linger", d.Relay.Linger, relay.DefaultLinger},
		{"relay.udp", d.Relay.UDP, true},
		{"relay.rtp_port", d.Relay.RTPPort, 0},
		{"webrtc.udp_port_min", d.WebRTC.UDPPortMin, 0},
		{"webrtc.udp_port_max", d.WebRTC.UDPPortMax, 0},
		{"webrtc.session_timeout (whep)", d.WebRTC.SessionTimeout, whep.DefaultSessionTimeout},
		{"webrtc.session_timeout (paging)", d.WebRTC.SessionTimeout, paging.DefaultSessionTimeout},
		{"webrtc.disconnected_timeout (whep)", d.WebRTC.DisconnectedTimeout, whep.DefaultDisconnectedTimeout},
		{"webrtc.disconnected_timeout (paging)", d.WebRTC.DisconnectedTimeout, paging.DefaultDisconnectedTimeout},
		{"webrtc.max_viewers", d.WebRTC.MaxViewers, whep.DefaultMaxSessions},
		{"webrtc.max_pages", d.WebRTC.MaxPages, paging.DefaultMaxSessions},
		{"webrtc.page_idle_timeout", d.WebRTC.PageIdleTimeout, paging.DefaultIdleTimeout},
		{"webrtc.page_max_duration", d.WebRTC.PageMaxDuration, paging.DefaultMaxDuration},
		{"diag.log_lines", d.Diag.LogLines, logring.DefaultLines},
		{"diag.log_bytes", d.Diag.LogBytes, logring.DefaultBytes},
	} {
		if c.got != c.want {
			t.Errorf("%s defaults to %v, the part's default is %v", c.key, c.got, c.want)
		}
	}
}
