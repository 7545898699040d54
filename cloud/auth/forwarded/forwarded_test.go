package forwarded

import (
	"bytes"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestClient(t *testing.T) {
	p, err := New([]string{"10.0.0.0/24", "::1/128", "192.0.2.10"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, peer string
		xff        []string
		want       string
	}{
		{"no proxy, no header", "198.51.100.7:5000", nil, "198.51.100.7"},
		{"an untrusted peer's header is ignored", "198.51.100.7:5000", []string{"203.0.113.9"}, "198.51.100.7"},
		{"a trusted proxy names the client", "10.0.0.2:4000", []string{"203.0.113.9"}, "203.0.113.9"},
		{"what the client wrote left of it is not believed", "10.0.0.2:4000", []string{"1.2.3.4, 203.0.113.9"}, "203.0.113.9"},
		{"trusted hops are skipped", "10.0.0.2:4000", []string{"203.0.113.9, 192.0.2.10, 10.0.0.5"}, "203.0.113.9"},
		{"headers on several lines are one list", "10.0.0.2:4000", []string{"1.2.3.4", "203.0.113.9, 10.0.0.5"}, "203.0.113.9"},
		{"every hop trusted: the leftmost", "10.0.0.2:4000", []string{"10.0.0.9, 10.0.0.5"}, "10.0.0.9"},
		{"a trusted proxy without a header", "10.0.0.2:4000", nil, "10.0.0.2"},
		{"garbage stops at the nearest trusted hop", "10.0.0.2:4000", []string{"203.0.113.9, unknown, 10.0.0.5"}, "10.0.0.5"},
		{"ports and brackets are dropped", "[::1]:4000", []string{"[2001:db8::7]:51000"}, "2001:db8::7"},
		{"an IPv4 peer in IPv6 form", "[::ffff:10.0.0.2]:4000", []string{"203.0.113.9"}, "203.0.113.9"},
		{"a mapped client is written as IPv4", "10.0.0.2:4000", []string{"::ffff:203.0.113.9"}, "203.0.113.9"},
		{"empty entries are skipped", "10.0.0.2:4000", []string{"203.0.113.9,, "}, "203.0.113.9"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = c.peer
			for _, v := range c.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := p.Client(r); got != c.want {
				t.Errorf("Client = %q, want %q", got, c.want)
			}
		})
	}
}

func TestZeroTrustsNone(t *testing.T) {
	var p Proxies
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "127.0.0.1:9999"
	r.Header.Set("X-Forwarded-For", "203.0.113.9")
	if got := p.Client(r); got != "127.0.0.1" {
		t.Errorf("Client = %q, want the peer", got)
	}
}

func TestUntrustedLocalProxyIsLoggedOnce(t *testing.T) {
	var buf bytes.Buffer
	p, err := New(nil, slog.New(slog.NewTextHandler(&buf, nil)))
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = "127.0.0.1:9999"
		r.Header.Set("X-Forwarded-For", "203.0.113.9")
		p.Client(r)
	}
	if n := strings.Count(buf.String(), "trusted_proxies"); n != 1 {
		t.Errorf("%d warnings, want 1:\n%s", n, buf.String())
	}
}

func TestParse(t *testing.T) {
	for _, s := range []string{"10.0.0.0/8", "10.1.2.3/8", "::1/128", "192.0.2.10", "2001:db8::1", "::ffff:192.0.2.1"} {
		if _, err := Parse(s); err != nil {
			t.Errorf("Parse(%q): %v", s, err)
		}
	}
	for _, s := range []string{"", "proxy", "10.0.0.0/33", "fe80::1%eth0", "fe80::1%eth0/64", "10.0.0.0/"} {
		if _, err := Parse(s); err == nil {
			t.Errorf("Parse(%q) accepted", s)
		}
	}
	if _, err := New([]string{"10.0.0.0/8", "nope", "also/nope"}, nil); err == nil || !strings.Contains(err.Error(), `"nope"`) || !strings.Contains(err.Error(), `"also/nope"`) {
		t.Errorf("New reports %v, want both bad entries", err)
	}
}

func FuzzClient(f *testing.F) {
	f.Add("10.0.0.2:4000", "203.0.113.9, 10.0.0.5")
	f.Add("[::1]:1", "[2001:db8::7]:51000,unknown")
	f.Add("junk", ",,,")
	p, err := New([]string{"10.0.0.0/24", "::1/128"}, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, peer, xff string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = peer
		r.Header.Set("X-Forwarded-For", xff)
		got := p.Client(r)
		// An untrusted (or unreadable) peer is the answer; behind a
		// trusted one the answer is the peer or an address of the header.
		pa, ok := addrOf(peer)
		switch {
		case !ok:
			if got != peer {
				t.Errorf("Client(%q, %q) = %q, want the unreadable peer as it is", peer, xff, got)
			}
		case !p.trusted(pa):
			if got != pa.String() {
				t.Errorf("Client(%q, %q) = %q, want the untrusted peer %s", peer, xff, got, pa)
			}
		case got != pa.String():
			found := false
			for _, h := range strings.Split(xff, ",") {
				if a, ok := addrOf(strings.TrimSpace(h)); ok && a.String() == got {
					found = true
				}
			}
			if !found {
				t.Errorf("Client(%q, %q) = %q: neither the peer nor a hop of the header", peer, xff, got)
			}
		}
	})
}
