package diag

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/liberrors"

	"github.com/dalaba/dalaba/protocol"
)

// maxDetail bounds a probe's Detail, so a village's whole check fits an
// answer.
const maxDetail = 240

// arpTable is Linux's view of the box's neighbours.
const arpTable = "/proc/net/arp"

// Check probes every target at once, each within the probe timeout, and
// returns the findings: broker, township, the cameras, the speakers, each
// kind in id order.
func (d *Diag) Check(ctx context.Context) protocol.DiagCheck {
	d.mu.Lock()
	speakers, cameras, local := slices.Clone(d.speaker), slices.Clone(d.cameras), d.local
	d.mu.Unlock()
	health := map[string]protocol.SpeakerHealth{}
	for _, h := range d.d.Speakers() {
		health[h.ID] = h
	}

	probes := make([]protocol.DiagProbe, 2+len(cameras)+len(speakers))
	var wg sync.WaitGroup
	run := func(i int, f func(ctx context.Context) protocol.DiagProbe) {
		wg.Go(func() {
			pctx, cancel := context.WithTimeout(ctx, d.cfg.ProbeTimeout)
			defer cancel()
			start := time.Now()
			p := f(pctx)
			p.MS = time.Since(start).Milliseconds()
			p.OK = p.Code == protocol.ProbeOK || p.Code == protocol.ProbeNoAnswer
			if len(p.Detail) > maxDetail {
				p.Detail = p.Detail[:maxDetail] + "…"
			}
			probes[i] = p
		})
	}
	run(0, d.probeBroker)
	run(1, d.probeTownship)
	slices.SortFunc(cameras, func(a, b protocol.Camera) int { return cmp.Compare(a.ID, b.ID) })
	for i, c := range cameras {
		run(2+i, func(ctx context.Context) protocol.DiagProbe { return probeCamera(ctx, c, local) })
	}
	slices.SortFunc(speakers, func(a, b protocol.Speaker) int { return cmp.Compare(a.ID, b.ID) })
	for i, s := range speakers {
		run(2+len(cameras)+i, func(ctx context.Context) protocol.DiagProbe { return probeSpeaker(ctx, s, health[s.ID]) })
	}
	wg.Wait()
	return protocol.DiagCheck{Probes: probes, At: d.d.Now()}
}

func (d *Diag) probeBroker(ctx context.Context) protocol.DiagProbe {
	p := protocol.DiagProbe{Target: protocol.ProbeBroker}
	u, err := url.Parse(d.cfg.BrokerURL)
	if err != nil || u.Host == "" {
		p.Code, p.Detail = protocol.ProbeNotChecked, "no broker URL"
		return p
	}
	p.Addr = u.Host
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", u.Host)
	if err != nil {
		p.Code, p.Detail = dialCode(err), err.Error()
		return p
	}
	_ = conn.Close() // only the connection was wanted
	p.Code, p.Detail = protocol.ProbeOK, "TCP connection made ("+u.Scheme+")"
	return p
}

func (d *Diag) probeTownship(ctx context.Context) protocol.DiagProbe {
	p := protocol.DiagProbe{Target: protocol.ProbeTownship}
	if d.cfg.TownshipURL == "" {
		p.Code, p.Detail = protocol.ProbeNotChecked, "media.url is not set"
		return p
	}
	u, err := url.Parse(d.cfg.TownshipURL)
	if err != nil {
		p.Code, p.Detail = protocol.ProbeNotChecked, "media.url does not parse"
		return p
	}
	p.Addr = u.Host
	p.Code, p.Detail = httpProbe(ctx, u.String())
	return p
}

// httpProbe GETs target without credentials: any HTTP answer means the
// service is there.
func httpProbe(ctx context.Context, target string) (code, detail string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return protocol.ProbeNotChecked, err.Error()
	}
	tr := &http.Transport{Proxy: nil, DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		return dialCode(err), err.Error()
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10)) // drained so the connection closes cleanly
	_ = resp.Body.Close()
	return protocol.ProbeOK, "answered HTTP " + resp.Status
}

// probeCamera DESCRIBEs the camera as the relay would pull it.
func probeCamera(ctx context.Context, c protocol.Camera, allowLocal bool) protocol.DiagProbe {
	p := protocol.DiagProbe{Target: protocol.ProbeCamera, ID: c.ID}
	u, err := base.ParseURL(c.URL)
	if err != nil {
		p.Code, p.Detail = protocol.ProbeNotChecked, "the camera's URL does not parse"
		return p
	}
	p.Addr = u.Host
	if c.Username != "" {
		u.User = url.UserPassword(c.Username, c.Password)
	}
	deadline, _ := ctx.Deadline()
	wait := time.Until(deadline)
	cl := &gortsplib.Client{Scheme: u.Scheme, Host: u.Host, ReadTimeout: wait, WriteTimeout: wait}
	dialer := &net.Dialer{}
	if !allowLocal {
		dialer.Control = refuseLocal
	}
	cl.DialContext = dialer.DialContext
	if err := cl.Start(); err != nil {
		p.Code, p.Detail = protocol.ProbeFailed, err.Error()
		return p
	}
	// Describe takes no context: closing the client is what aborts it.
	stop := context.AfterFunc(ctx, cl.Close)
	desc, _, err := cl.Describe(u)
	if stop() {
		cl.Close()
	}
	switch {
	case err == nil:
		p.Code, p.Detail = protocol.ProbeOK, fmt.Sprintf("RTSP DESCRIBE answered: %d tracks", len(desc.Medias))
	case ctx.Err() != nil:
		p.Code, p.Detail = protocol.ProbeTimeout, "no RTSP answer in time"
	default:
		p.Code, p.Detail = rtspCode(err), err.Error()
	}
	return p
}

// rtspCode tells a refused login from other RTSP failures.
func rtspCode(err error) string {
	if e, ok := errors.AsType[liberrors.ErrClientBadStatusCode](err); ok && e.Code == base.StatusUnauthorized {
		return protocol.ProbeUnauthorized
	}
	return dialCode(err)
}

// refuseLocal refuses to dial what protocol.CheckCameraIP refuses, as the
// relay does for a camera the township did not allow local.
func refuseLocal(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return err
	}
	return protocol.CheckCameraIP(ap.Addr())
}

// probeSpeaker checks a speaker in the way its driver allows (see the
// package doc).
func probeSpeaker(ctx context.Context, s protocol.Speaker, h protocol.SpeakerHealth) protocol.DiagProbe {
	p := protocol.DiagProbe{Target: protocol.ProbeSpeaker, ID: s.ID, Addr: s.Addr}
	driverSaw := "the driver last found it reachable"
	if !h.Reachable {
		driverSaw = "the driver last found it unreachable"
		if h.Error != "" {
			driverSaw += ": " + h.Error
		}
	}
	switch s.Driver {
	case "rtp":
		p.Code, p.Detail = probeRTP(ctx, s.Addr)
	case "http":
		u, err := url.Parse(strings.ReplaceAll(s.PlayURL, "{url}", ""))
		if err != nil || u.Host == "" {
			p.Code, p.Detail = protocol.ProbeNotChecked, "its play URL does not parse"
			return p
		}
		p.Addr = u.Host
		p.Code, p.Detail = httpProbe(ctx, u.Scheme+"://"+u.Host+"/")
	case "soundcard":
		p.Code, p.Detail = protocol.ProbeNotChecked, "the box's own line-out: "+driverSaw
		if h.ID != "" && h.Reachable {
			p.Code = protocol.ProbeOK
		}
		return p
	default:
		p.Code, p.Detail = protocol.ProbeUnsupported, "driver "+s.Driver
		return p
	}
	if h.ID != "" {
		p.Detail += "; " + driverSaw
	}
	return p
}

// probeRTP sends an empty UDP datagram to an RTP horn's port and listens
// for an ICMP error until the deadline, then asks the ARP table.
func probeRTP(ctx context.Context, addr string) (code, detail string) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return protocol.ProbeNotChecked, "the address is not ip:port"
	}
	if ap.Addr().IsMulticast() {
		return protocol.ProbeNotChecked, "a multicast group: horns that listen to it do not answer, so it cannot be probed"
	}
	conn, err := (&net.Dialer{}).DialContext(ctx, "udp", addr)
	if err != nil {
		return dialCode(err), err.Error()
	}
	defer conn.Close()
	if deadline, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(deadline) // a connected UDP socket always takes one
	}
	if _, err := conn.Write(nil); err != nil {
		return dialCode(err), err.Error()
	}
	_, err = conn.Read(make([]byte, 64))
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return protocol.ProbeRefused, "the host is up, but nothing listens on that UDP port (ICMP port unreachable): check the horn's RTP port"
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return protocol.ProbeUnreachable, "no device answered ARP for that address on the LAN: check the horn's power and cable"
	}
	if mac, ok := arpEntry(ap.Addr()); ok {
		return protocol.ProbeOK, "a device at that address answered ARP (" + mac + "); UDP tells nothing more of the horn"
	}
	return protocol.ProbeNoAnswer, "no refusal came back; the address is not in the box's ARP table (not on its LAN), so UDP can tell nothing more"
}

// arpEntry finds ip's resolved entry in the ARP table.
func arpEntry(ip netip.Addr) (string, bool) {
	f, err := os.Open(arpTable)
	if err != nil {
		return "", false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// IP address, HW type, Flags, HW address, Mask, Device
		fs := strings.Fields(sc.Text())
		if len(fs) >= 4 && fs[0] == ip.Unmap().String() && fs[2] != "0x0" && fs[3] != "00:00:00:00:00:00" {
			return fs[3], true
		}
	}
	return "", false
}

// dialCode sorts a network failure.
func dialCode(err error) string {
	if _, ok := errors.AsType[*net.DNSError](err); ok {
		return protocol.ProbeDNS
	}
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return protocol.ProbeRefused
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return protocol.ProbeUnreachable
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		return protocol.ProbeTimeout
	}
	if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
		return protocol.ProbeTimeout
	}
	return protocol.ProbeFailed
}
