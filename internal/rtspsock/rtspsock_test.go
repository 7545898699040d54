package rtspsock

import (
	"fmt"
	"net"
	"testing"
)

func TestBindPicksAnEvenOddPair(t *testing.T) {
	s, err := Bind("127.0.0.1:0", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tcp, rtp, rtcp := s.Addrs()
	_, rp, _ := net.SplitHostPort(rtp)
	_, cp, _ := net.SplitHostPort(rtcp)
	var r, c int
	if _, err := fmt.Sscan(rp, &r); err != nil {
		t.Fatal(err)
	}
	if _, err := fmt.Sscan(cp, &c); err != nil {
		t.Fatal(err)
	}
	if r%2 != 0 || c != r+1 || s.TCPAddr().String() != tcp {
		t.Fatalf("pair %s/%s, tcp %s", rtp, rtcp, tcp)
	}
	if l, err := s.Listen("tcp", tcp); err != nil || l == nil {
		t.Fatalf("Listen hook: %v", err)
	}
	if _, err := s.Listen("tcp", "127.0.0.1:1"); err == nil {
		t.Error("Listen hook handed over a socket for another address")
	}
	for _, a := range []string{rtp, rtcp} {
		if pc, err := s.ListenPacket("udp", a); err != nil || pc == nil {
			t.Fatalf("ListenPacket hook %s: %v", a, err)
		}
	}
	if _, err := s.ListenPacket("udp", "127.0.0.1:1"); err == nil {
		t.Error("ListenPacket hook handed over a socket for another address")
	}
	// A fixed pair that is taken is refused.
	if _, err := Bind("127.0.0.1:0", r); err == nil {
		t.Error("bound an RTP port already in use")
	}
}

// TestServe: the server takes the bound sockets, so a client reaches it at
// their address, and closing it frees the port.
func TestServe(t *testing.T) {
	s, err := Bind("127.0.0.1:0", 0)
	if err != nil {
		t.Fatal(err)
	}
	tcp, _, _ := s.Addrs()
	srv, err := s.Serve(nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", tcp)
	if err != nil {
		t.Fatalf("dial the started server: %v", err)
	}
	c.Close()
	srv.Close()
	l, err := net.Listen("tcp", tcp)
	if err != nil {
		t.Fatalf("the port stayed taken after Close: %v", err)
	}
	l.Close()
}

// TestBindTCP: a TCP-only server binds no UDP port, names none to the
// server, and serves.
func TestBindTCP(t *testing.T) {
	s, err := BindTCP("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tcp, rtp, rtcp := s.Addrs()
	if rtp != "" || rtcp != "" || tcp != s.TCPAddr().String() {
		t.Fatalf("addresses %q %q %q", tcp, rtp, rtcp)
	}
	if _, err := s.ListenPacket("udp", "127.0.0.1:0"); err == nil {
		t.Error("ListenPacket hook handed over a UDP socket")
	}
	srv, err := s.Serve(nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", tcp)
	if err != nil {
		t.Fatalf("dial the started server: %v", err)
	}
	c.Close()
	srv.Close()
}
