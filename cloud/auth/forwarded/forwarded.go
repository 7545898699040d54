// Package forwarded finds the address a request really came from when the
// service sits behind reverse proxies: the peer's address, unless the peer
// is a proxy the township trusts, in which case the X-Forwarded-For header
// is read from its right (the hop nearest us) to its left, skipping every
// trusted hop, and the first untrusted address is the client's.
//
// Only the header's right end can be believed: each trusted proxy appends
// the address it was reached from, while anything to the left of that was
// written by whoever sent the request. An untrusted peer's header is
// ignored altogether, so a client reaching the service directly cannot
// name itself someone else. The Forwarded header (RFC 7239) is not read.
//
// It knows nothing of users or limits; cloud/auth counts sign-in failures
// by the address it returns.
package forwarded

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
)

// Proxies are the trusted proxies. The zero value trusts none: every
// request's client is its peer.
type Proxies struct {
	nets []netip.Prefix
	// warned is set once a forwarded header from an untrusted peer on
	// loopback has been logged: most likely a proxy on this machine that
	// trusted_proxies should name.
	warned *atomic.Bool
	log    *slog.Logger
}

// New parses cidrs: prefixes ("10.0.0.0/8", "::1/128") or single
// addresses ("192.0.2.7"). log (nil = none) hears once of a forwarded
// header from an untrusted loopback peer.
func New(cidrs []string, log *slog.Logger) (Proxies, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p := Proxies{warned: new(atomic.Bool), log: log.With("component", "forwarded")}
	var errs []error
	for _, s := range cidrs {
		pfx, err := Parse(s)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		p.nets = append(p.nets, pfx)
	}
	if err := errors.Join(errs...); err != nil {
		return Proxies{}, err
	}
	return p, nil
}

// Parse reads one trusted proxy: a prefix or a single address.
func Parse(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("trusted proxy %q: want an address or address/bits", s)
		}
		if p.Addr().Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("trusted proxy %q: no zone", s)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("trusted proxy %q: want an address or address/bits", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// Client is the address r came from, as a bare IP: the peer's, or, when
// the peer is a trusted proxy, the first untrusted address of
// X-Forwarded-For from the right. When every hop is trusted it is the
// leftmost; when a hop is not an address, the nearest trusted one before
// it (a proxy sending garbage has told us nothing believable).
func (p Proxies) Client(r *http.Request) string {
	peer, ok := addrOf(r.RemoteAddr)
	if !ok {
		return r.RemoteAddr
	}
	xff := r.Header.Values("X-Forwarded-For")
	if !p.trusted(peer) {
		if len(xff) > 0 && peer.IsLoopback() && p.warned != nil && p.warned.CompareAndSwap(false, true) {
			p.log.Warn("X-Forwarded-For from a proxy on this machine is ignored: list it in http.trusted_proxies, or every client counts as that proxy for sign-in limits",
				"remote_addr", peer.String())
		}
		return peer.String()
	}
	client := peer
	hops := strings.Split(strings.Join(xff, ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		h := strings.TrimSpace(hops[i])
		if h == "" {
			continue
		}
		a, ok := addrOf(h)
		if !ok {
			break
		}
		client = a
		if !p.trusted(a) {
			break
		}
	}
	return client.String()
}

func (p Proxies) trusted(a netip.Addr) bool {
	for _, n := range p.nets {
		if n.Contains(a) {
			return true
		}
	}
	return false
}

// addrOf reads an address as peers and proxies write it: "ip",
// "ip:port" or "[ipv6]:port", dropping any zone and IPv4-in-IPv6 wrapping.
func addrOf(s string) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap().WithZone(""), true
	}
	host, _, err := net.SplitHostPort(s)
	if err != nil {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap().WithZone(""), true
}
