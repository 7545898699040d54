// Package rtspsock binds the sockets of an RTSP server before it starts:
// the TCP listener and an even/odd UDP port pair for RTP and RTCP (RFC 3550,
// and what gortsplib's server insists on). Binding first makes the address
// known at once and a taken port an error of construction, not of Run; the
// server then takes the sockets through its Listen and ListenPacket hooks,
// because ":0" cannot name a port pair.
//
// The box's camera relay and the simulated camera both serve RTSP this way.
package rtspsock

import (
	"errors"
	"fmt"
	"net"
	"strconv"

	"github.com/bluenviron/gortsplib/v5"
)

// Sockets are one server's bound sockets.
type Sockets struct {
	tcp       net.Listener
	rtp, rtcp *net.UDPConn // nil for a TCP-only server
}

// pairTries bounds the search for a free even/odd UDP port pair.
const pairTries = 50

// Bind listens on listen (TCP) and binds the UDP pair on the same host:
// at rtpPort and rtpPort+1, or, with rtpPort 0, at the first free pair.
func Bind(listen string, rtpPort int) (*Sockets, error) {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, fmt.Errorf("listen %q: %w", listen, err)
	}
	rtp, rtcp, err := udpPair(ln.Addr().(*net.TCPAddr).IP, rtpPort)
	if err != nil {
		ln.Close()
		return nil, err
	}
	return &Sockets{tcp: ln, rtp: rtp, rtcp: rtcp}, nil
}

// BindTCP listens on listen (TCP) alone: the server it serves sends RTP
// over each reader's RTSP connection and refuses UDP (461), so players
// fall back to TCP and a firewall need open no UDP port.
func BindTCP(listen string) (*Sockets, error) {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, fmt.Errorf("listen %q: %w", listen, err)
	}
	return &Sockets{tcp: ln}, nil
}

func udpPair(ip net.IP, port int) (rtp, rtcp *net.UDPConn, err error) {
	if port != 0 {
		rtp, err = net.ListenUDP("udp", &net.UDPAddr{IP: ip, Port: port})
		if err != nil {
			return nil, nil, fmt.Errorf("RTP socket: %w", err)
		}
		rtcp, err = net.ListenUDP("udp", &net.UDPAddr{IP: ip, Port: port + 1})
		if err != nil {
			rtp.Close()
			return nil, nil, fmt.Errorf("RTCP socket: %w", err)
		}
		return rtp, rtcp, nil
	}
	for range pairTries {
		rtp, err = net.ListenUDP("udp", &net.UDPAddr{IP: ip})
		if err != nil {
			return nil, nil, fmt.Errorf("RTP socket: %w", err)
		}
		p := rtp.LocalAddr().(*net.UDPAddr).Port
		if p%2 == 0 && p < 65535 {
			rtcp, err = net.ListenUDP("udp", &net.UDPAddr{IP: ip, Port: p + 1})
			if err == nil {
				return rtp, rtcp, nil
			}
		}
		rtp.Close()
	}
	return nil, nil, errors.New("RTP socket: no free even/odd UDP port pair")
}

// TCPAddr is the RTSP address.
func (s *Sockets) TCPAddr() *net.TCPAddr { return s.tcp.Addr().(*net.TCPAddr) }

// Addrs are the addresses to give the server, which checks the pair and
// then asks the hooks for them; rtp and rtcp are "" for a TCP-only server.
func (s *Sockets) Addrs() (tcp, rtp, rtcp string) {
	u := func(c *net.UDPConn) string {
		if c == nil {
			return ""
		}
		a := c.LocalAddr().(*net.UDPAddr)
		return net.JoinHostPort(a.IP.String(), strconv.Itoa(a.Port))
	}
	return s.tcp.Addr().String(), u(s.rtp), u(s.rtcp)
}

// Listen is the server's Listen hook: it hands over the bound listener.
func (s *Sockets) Listen(_, address string) (net.Listener, error) {
	if tcp, _, _ := s.Addrs(); address != tcp {
		return nil, fmt.Errorf("unexpected TCP listen on %s", address)
	}
	return s.tcp, nil
}

// ListenPacket is the server's ListenPacket hook: it hands over the bound
// UDP sockets.
func (s *Sockets) ListenPacket(_, address string) (net.PacketConn, error) {
	_, rtp, rtcp := s.Addrs()
	switch {
	case rtp == "":
	case address == rtp:
		return s.rtp, nil
	case address == rtcp:
		return s.rtcp, nil
	}
	return nil, fmt.Errorf("unexpected UDP listen on %s", address)
}

// Serve starts a gortsplib server for h on the sockets. If it cannot
// start, the sockets are closed; once started, the server owns them.
func (s *Sockets) Serve(h gortsplib.ServerHandler) (*gortsplib.Server, error) {
	tcp, rtp, rtcp := s.Addrs()
	srv := &gortsplib.Server{
		Handler:        h,
		RTSPAddress:    tcp,
		UDPRTPAddress:  rtp,
		UDPRTCPAddress: rtcp,
		Listen:         s.Listen,
		ListenPacket:   s.ListenPacket,
	}
	if err := srv.Start(); err != nil {
		s.Close()
		return nil, err
	}
	return srv, nil
}

// Close closes the sockets, for a server that never started (a started
// server closes them itself).
func (s *Sockets) Close() {
	s.tcp.Close()
	if s.rtp != nil {
		s.rtp.Close()
		s.rtcp.Close()
	}
}
