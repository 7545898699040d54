package onvif

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"golang.org/x/net/ipv4"
)

// WS-Discovery (ONVIF Core 7.3): a Probe for NetworkVideoTransmitters sent
// to the multicast group, answered by each camera with a ProbeMatch sent
// back to where the probe came from.
const (
	// DiscoveryAddr is WS-Discovery's multicast group and port.
	DiscoveryAddr = "239.255.255.250:3702"
	nsAddressing  = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
	nsDiscovery   = "http://schemas.xmlsoap.org/ws/2005/04/discovery"
	nsNetwork     = "http://www.onvif.org/ver10/network/wsdl"
)

// maxDevices bounds what one probe collects: a village's LAN has tens.
const maxDevices = 256

// Found is a device that answered a probe.
type Found struct {
	Endpoint string   // its WS-Addressing endpoint reference (urn:uuid:…)
	XAddrs   []string // its device service URLs
	Scopes   []string // onvif://www.onvif.org/name/…, …/hardware/…
	Name     string   // from the name scope, unescaped; may be empty
	Hardware string   // from the hardware scope
	From     string   // the address the answer came from
}

// ProbeConfig says where a probe goes.
type ProbeConfig struct {
	// Target is DiscoveryAddr (the default), or a unicast address.
	Target string
	// Interface sends the probe from that interface's first IPv4
	// address, and a multicast probe out of it; "" lets the system pick.
	Interface string
	// TTL of a multicast probe: 1 (the default) keeps it on the LAN; 0
	// keeps it on this host (tests).
	TTL int
	// Wait is how long answers are collected, DefaultProbeWait if 0.
	Wait time.Duration
}

// DefaultProbeWait is long enough for cameras that answer after a random
// delay of up to 500 ms (the APP_MAX_DELAY WS-Discovery allows).
const DefaultProbeWait = 2 * time.Second

// Probe sends a WS-Discovery Probe as cfg says and collects the answers
// until its wait has passed or ctx ends. Each device is listed once, by
// endpoint.
func Probe(ctx context.Context, cfg ProbeConfig) ([]Found, error) {
	target, ifname, wait := cfg.Target, cfg.Interface, cfg.Wait
	if target == "" {
		target = DiscoveryAddr
	}
	if wait == 0 {
		wait = DefaultProbeWait
	}
	ttl := cfg.TTL
	if ttl == 0 && cfg.Target == "" {
		ttl = 1
	}
	dst, err := net.ResolveUDPAddr("udp4", target)
	if err != nil {
		return nil, fmt.Errorf("onvif: probe target %q: %w", target, err)
	}
	local := &net.UDPAddr{}
	var ifi *net.Interface
	if ifname != "" {
		if ifi, err = net.InterfaceByName(ifname); err != nil {
			return nil, fmt.Errorf("onvif: probe interface: %w", err)
		}
		addrs, err := ifi.Addrs()
		if err != nil {
			return nil, fmt.Errorf("onvif: probe interface %s: %w", ifname, err)
		}
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil {
				local.IP = ipn.IP
				break
			}
		}
		if local.IP == nil {
			return nil, fmt.Errorf("onvif: probe interface %s has no IPv4 address", ifname)
		}
	}
	conn, err := net.ListenUDP("udp4", local)
	if err != nil {
		return nil, fmt.Errorf("onvif: probe socket: %w", err)
	}
	defer conn.Close()
	if dst.IP.IsMulticast() {
		p := ipv4.NewPacketConn(conn)
		if err := p.SetMulticastTTL(ttl); err != nil {
			return nil, fmt.Errorf("onvif: probe socket: %w", err)
		}
		if err := p.SetMulticastLoopback(true); err != nil {
			return nil, fmt.Errorf("onvif: probe socket: %w", err)
		}
		if ifi != nil {
			if err := p.SetMulticastInterface(ifi); err != nil {
				return nil, fmt.Errorf("onvif: probe socket: %w", err)
			}
		}
	}
	id := "uuid:" + newUUID()
	msg := `<?xml version="1.0" encoding="UTF-8"?>` +
		`<e:Envelope xmlns:e="` + nsSOAP + `" xmlns:w="` + nsAddressing + `" xmlns:d="` + nsDiscovery + `" xmlns:dn="` + nsNetwork + `">` +
		`<e:Header><w:MessageID>` + id + `</w:MessageID><w:To e:mustUnderstand="true">urn:schemas-xmlsoap-org:ws:2005:04:discovery</w:To>` +
		`<w:Action e:mustUnderstand="true">http://schemas.xmlsoap.org/ws/2005/04/discovery/Probe</w:Action></e:Header>` +
		`<e:Body><d:Probe><d:Types>dn:NetworkVideoTransmitter</d:Types></d:Probe></e:Body></e:Envelope>`
	if _, err := conn.WriteToUDP([]byte(msg), dst); err != nil {
		return nil, fmt.Errorf("onvif: probe: %w", err)
	}
	deadline := time.Now().Add(wait)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetReadDeadline(time.Now()) })
	defer stop()
	if err := conn.SetReadDeadline(deadline); err != nil {
		return nil, fmt.Errorf("onvif: probe: %w", err)
	}
	var out []Found
	seen := map[string]bool{}
	buf := make([]byte, 64<<10)
	for len(out) < maxDevices {
		n, from, err := conn.ReadFromUDP(buf)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				break
			}
			return out, fmt.Errorf("onvif: probe: %w", err)
		}
		for _, f := range parseMatches(buf[:n], id) {
			if seen[f.Endpoint] {
				continue
			}
			seen[f.Endpoint] = true
			f.From = from.String()
			out = append(out, f)
		}
	}
	return out, nil
}

// parseMatches reads the ProbeMatches of an answer to the probe id; an
// answer to another probe or one that is not one gives nothing.
func parseMatches(raw []byte, id string) []Found {
	var env struct {
		Header struct {
			RelatesTo string `xml:"RelatesTo"`
		} `xml:"Header"`
		Body struct {
			Matches []struct {
				Endpoint string `xml:"EndpointReference>Address"`
				Types    string `xml:"Types"`
				Scopes   string `xml:"Scopes"`
				XAddrs   string `xml:"XAddrs"`
			} `xml:"ProbeMatches>ProbeMatch"`
		} `xml:"Body"`
	}
	if xml.Unmarshal(raw, &env) != nil || strings.TrimSpace(env.Header.RelatesTo) != id {
		return nil
	}
	var out []Found
	for _, m := range env.Body.Matches {
		f := Found{Endpoint: strings.TrimSpace(m.Endpoint), XAddrs: strings.Fields(m.XAddrs), Scopes: strings.Fields(m.Scopes)}
		if f.Endpoint == "" || len(f.XAddrs) == 0 {
			continue
		}
		for _, s := range f.Scopes {
			if v, ok := strings.CutPrefix(s, "onvif://www.onvif.org/name/"); ok {
				f.Name = unescapeScope(v)
			}
			if v, ok := strings.CutPrefix(s, "onvif://www.onvif.org/hardware/"); ok {
				f.Hardware = unescapeScope(v)
			}
		}
		out = append(out, f)
	}
	return out
}

// unescapeScope undoes a scope's %-escapes (cameras write spaces as %20).
func unescapeScope(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			if v, err := hex.DecodeString(s[i+1 : i+3]); err == nil {
				b.WriteByte(v[0])
				i += 2
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// newUUID is a random (version 4) UUID.
func newUUID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on Linux
	b[6], b[8] = b[6]&0x0f|0x40, b[8]&0x3f|0x80
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
