package relay

import (
	"errors"
	"fmt"
	"net"
	"strconv"
)

// sockets are what New binds, so Addr is known before Run and a taken
// port fails New, not Run. The RTSP server gets them through its Listen
// and ListenPacket hooks (gortsplib binds by address otherwise, and ":0"
// cannot name an even/odd UDP pair).
type sockets struct {
	tcp       net.Listener
	rtp, rtcp net.PacketConn
}

// pairTries bounds the search for a free even/odd UDP port pair.
const pairTries = 50

func bind(listen string, rtpPort int) (*sockets, error) {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, fmt.Errorf("listen %q: %w", listen, err)
	}
	ip := ln.Addr().(*net.TCPAddr).IP
	rtp, rtcp, err := udpPair(ip, rtpPort)
	if err != nil {
		ln.Close()
		return nil, err
	}
	return &sockets{tcp: ln, rtp: rtp, rtcp: rtcp}, nil
}

// udpPair binds RTP and RTCP sockets on ip at an even port and the next
// one, as RFC 3550 and gortsplib's server want; port 0 picks a pair.
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

// addrs are the addresses to give the server, which checks the pair and
// then asks the hooks for them.
func (s *sockets) addrs() (tcp, rtp, rtcp string) {
	u := func(c net.PacketConn) string {
		a := c.LocalAddr().(*net.UDPAddr)
		return net.JoinHostPort(a.IP.String(), strconv.Itoa(a.Port))
	}
	return s.tcp.Addr().String(), u(s.rtp), u(s.rtcp)
}

func (s *sockets) listen(_, address string) (net.Listener, error) {
	if tcp, _, _ := s.addrs(); address != tcp {
		return nil, fmt.Errorf("unexpected TCP listen on %s", address)
	}
	return s.tcp, nil
}

func (s *sockets) listenPacket(_, address string) (net.PacketConn, error) {
	_, rtp, rtcp := s.addrs()
	switch address {
	case rtp:
		return s.rtp, nil
	case rtcp:
		return s.rtcp, nil
	}
	return nil, fmt.Errorf("unexpected UDP listen on %s", address)
}

func (s *sockets) close() {
	s.tcp.Close()
	s.rtp.Close()
	s.rtcp.Close()
}
