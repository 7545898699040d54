package sim

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/ipv4"
)

// The camera's ONVIF face: the SOAP operations of the ONVIF device, media
// and PTZ services (ONVIF Core and the ver10/ver20 WSDLs) that the box
// uses, answered from what the simulated camera is (its clips, paths and
// credentials), a snapshot JPEG, and a WS-Discovery responder. No ONVIF
// device simulator is to be had from the registries this project uses, so
// the camera is built from the specifications' messages; it is strict where
// cameras are (the WS-Security digest, the profile tokens) and records
// what PTZ was asked, for tests.

// ONVIFConfig turns a Sim's ONVIF face on.
type ONVIFConfig struct {
	// Listen is the HTTP address of the services, "127.0.0.1:0" if empty.
	Listen string
	// Discovery, when set, is where the camera answers WS-Discovery
	// probes: a multicast group and port (239.255.255.250:3702 on a real
	// LAN), joined on DiscoveryInterface, or a unicast address.
	Discovery          string
	DiscoveryInterface string
	// Name and Hardware are the camera's discovery scopes and device
	// information ("村口", "DS-2CD2T47").
	Name, Hardware string
	// PTZ gives the camera a PTZ service with presets "1" (大门) and "2"
	// (广场).
	PTZ bool
}

// PTZState is what the camera was asked to do with its PTZ unit.
type PTZState struct {
	Moves           int     // ContinuousMove requests
	Pan, Tilt, Zoom float64 // the last move's velocities
	Moving          bool    // a move was started and not stopped
	Stops           int
	Preset          string // the last preset gone to
}

// onvifFace serves the ONVIF services of a Sim.
type onvifFace struct {
	s    *Sim
	cfg  ONVIFConfig
	ln   net.Listener
	udp  net.PacketConn // nil: no discovery
	id   string         // the device's endpoint reference
	jpeg []byte
	log  *slog.Logger

	mu  sync.Mutex
	ptz PTZState
}

func newONVIF(s *Sim, cfg ONVIFConfig) (*onvifFace, error) {
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("onvif listen: %w", err)
	}
	f := &onvifFace{s: s, cfg: cfg, ln: ln, id: "urn:uuid:" + uuid4(), log: s.log}
	if cfg.Discovery != "" {
		if f.udp, err = listenDiscovery(cfg.Discovery, cfg.DiscoveryInterface); err != nil {
			ln.Close()
			return nil, err
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, testCard(320, 180), &jpeg.Options{Quality: 70}); err != nil {
		f.close()
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	f.jpeg = buf.Bytes()
	return f, nil
}

// listenDiscovery opens the WS-Discovery socket: joined to a multicast
// group on ifname, or bound to a unicast address.
func listenDiscovery(addr, ifname string) (net.PacketConn, error) {
	ua, err := net.ResolveUDPAddr("udp4", addr)
	if err != nil {
		return nil, fmt.Errorf("discovery address: %w", err)
	}
	if !ua.IP.IsMulticast() {
		c, err := net.ListenUDP("udp4", ua)
		if err != nil {
			return nil, fmt.Errorf("discovery listen: %w", err)
		}
		return c, nil
	}
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: ua.IP, Port: ua.Port})
	if err != nil {
		return nil, fmt.Errorf("discovery listen: %w", err)
	}
	var ifi *net.Interface
	if ifname != "" {
		if ifi, err = net.InterfaceByName(ifname); err != nil {
			c.Close()
			return nil, fmt.Errorf("discovery interface: %w", err)
		}
	}
	if err := ipv4.NewPacketConn(c).JoinGroup(ifi, &net.UDPAddr{IP: ua.IP}); err != nil {
		c.Close()
		return nil, fmt.Errorf("discovery join %s: %w", ua.IP, err)
	}
	return c, nil
}

func (f *onvifFace) close() {
	f.ln.Close()
	if f.udp != nil {
		f.udp.Close()
	}
}

// url is the device service's address.
func (f *onvifFace) url(path string) string {
	return "http://" + f.ln.Addr().String() + path
}

// run serves until ctx ends, then closes the sockets and returns once its
// goroutines have.
func (f *onvifFace) run(ctx context.Context) {
	srv := &http.Server{Handler: f, ReadHeaderTimeout: 5 * time.Second}
	var wg sync.WaitGroup
	wg.Go(func() { _ = srv.Serve(f.ln) }) // returns when closed
	if f.udp != nil {
		wg.Go(f.answerProbes)
	}
	<-ctx.Done()
	shut, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	_ = srv.Shutdown(shut) // what is left after 2 s is closed below
	cancel()
	f.close()
	wg.Wait()
}

// answerProbes answers WS-Discovery probes for network video transmitters
// (or for any type) until the socket closes.
func (f *onvifFace) answerProbes() {
	buf := make([]byte, 64<<10)
	for {
		n, from, err := f.udp.ReadFrom(buf)
		if err != nil {
			return
		}
		var probe struct {
			Header struct {
				MessageID string `xml:"MessageID"`
			} `xml:"Header"`
			Body struct {
				Probe *struct {
					Types string `xml:"Types"`
				} `xml:"Probe"`
			} `xml:"Body"`
		}
		if xml.Unmarshal(buf[:n], &probe) != nil || probe.Body.Probe == nil {
			continue
		}
		if t := probe.Body.Probe.Types; t != "" && !strings.Contains(t, "NetworkVideoTransmitter") {
			continue
		}
		scopes := "onvif://www.onvif.org/type/video_encoder onvif://www.onvif.org/Profile/Streaming" +
			" onvif://www.onvif.org/name/" + scope(f.cfg.Name) + " onvif://www.onvif.org/hardware/" + scope(f.cfg.Hardware)
		msg := `<?xml version="1.0" encoding="UTF-8"?><e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope"` +
			` xmlns:w="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery"` +
			` xmlns:dn="http://www.onvif.org/ver10/network/wsdl"><e:Header><w:MessageID>uuid:` + uuid4() + `</w:MessageID>` +
			`<w:RelatesTo>` + xmlText(probe.Header.MessageID) + `</w:RelatesTo><w:To>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</w:To>` +
			`<w:Action>http://schemas.xmlsoap.org/ws/2005/04/discovery/ProbeMatches</w:Action></e:Header><e:Body><d:ProbeMatches><d:ProbeMatch>` +
			`<w:EndpointReference><w:Address>` + f.id + `</w:Address></w:EndpointReference><d:Types>dn:NetworkVideoTransmitter</d:Types>` +
			`<d:Scopes>` + xmlText(scopes) + `</d:Scopes><d:XAddrs>` + f.url("/onvif/device_service") + `</d:XAddrs>` +
			`<d:MetadataVersion>1</d:MetadataVersion></d:ProbeMatch></d:ProbeMatches></e:Body></e:Envelope>`
		if _, err := f.udp.WriteTo([]byte(msg), from); err != nil {
			f.log.Debug("onvif: answering a probe", "err", err)
		}
	}
}

// scope escapes a scope's value: spaces and the like as %XX.
func scope(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c == '%' || c == '/' {
			fmt.Fprintf(&b, "%%%02X", c)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

func (f *onvifFace) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet && r.URL.Path == "/onvif/snapshot.jpg" {
		f.snapshot(w, r)
		return
	}
	if r.Method != http.MethodPost || !strings.HasPrefix(r.URL.Path, "/onvif/") {
		http.NotFound(w, r)
		return
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err != nil {
		return
	}
	var env struct {
		Header struct {
			Token *struct {
				Username string `xml:"Username"`
				Password string `xml:"Password"`
				Nonce    string `xml:"Nonce"`
				Created  string `xml:"Created"`
			} `xml:"Security>UsernameToken"`
		} `xml:"Header"`
		Body struct {
			Inner []byte `xml:",innerxml"`
		} `xml:"Body"`
	}
	if err := xml.Unmarshal(raw, &env); err != nil {
		fault(w, http.StatusBadRequest, "ter:WellFormed", "not a SOAP envelope")
		return
	}
	op, args := firstElement(env.Body.Inner)
	// GetSystemDateAndTime is open to all, as clients set their clock by it.
	if op != "GetSystemDateAndTime" && f.s.cfg.Username != "" {
		tok := env.Header.Token
		if tok == nil || tok.Username != f.s.cfg.Username || !digestOK(tok.Nonce, tok.Created, f.s.cfg.Password, tok.Password) {
			fault(w, http.StatusBadRequest, "ter:NotAuthorized", "Sender not Authorized")
			return
		}
	}
	body, err := f.answer(op, args)
	if err != nil {
		fault(w, http.StatusBadRequest, "ter:InvalidArgVal", err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/soap+xml; charset=utf-8")
	_, _ = io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"`+
		` xmlns:tds="http://www.onvif.org/ver10/device/wsdl" xmlns:trt="http://www.onvif.org/ver10/media/wsdl"`+
		` xmlns:tt="http://www.onvif.org/ver10/schema" xmlns:tptz="http://www.onvif.org/ver20/ptz/wsdl"><s:Body>`+body+`</s:Body></s:Envelope>`)
}

// digestOK checks a WS-Security password digest.
func digestOK(nonce, created, password, digest string) bool {
	n, err := base64.StdEncoding.DecodeString(strings.TrimSpace(nonce))
	if err != nil {
		return false
	}
	h := sha1.New()
	h.Write(n)
	h.Write([]byte(strings.TrimSpace(created)))
	h.Write([]byte(password))
	return base64.StdEncoding.EncodeToString(h.Sum(nil)) == strings.TrimSpace(digest)
}

// opArgs are the fields of the requests the camera reads.
type opArgs struct {
	ProfileToken string `xml:"ProfileToken"`
	PresetToken  string `xml:"PresetToken"`
	Velocity     struct {
		PanTilt *struct {
			X float64 `xml:"x,attr"`
			Y float64 `xml:"y,attr"`
		} `xml:"PanTilt"`
		Zoom *struct {
			X float64 `xml:"x,attr"`
		} `xml:"Zoom"`
	} `xml:"Velocity"`
}

// firstElement is the local name and the decoded fields of a Body's
// first element.
func firstElement(inner []byte) (string, opArgs) {
	d := xml.NewDecoder(bytes.NewReader(inner))
	for {
		tok, err := d.Token()
		if err != nil {
			return "", opArgs{}
		}
		if se, ok := tok.(xml.StartElement); ok {
			var a opArgs
			_ = d.DecodeElement(&a, &se) // a request without fields is fine
			return se.Name.Local, a
		}
	}
}

// profiles are the camera's media profiles: its main stream, and its sub
// stream if it has one.
func (f *onvifFace) profiles() []string {
	if f.s.sub != nil {
		return []string{"main", "sub"}
	}
	return []string{"main"}
}

func (f *onvifFace) profileClip(token string) (*clip, string, error) {
	switch {
	case token == "main":
		return f.s.clip, f.s.URL(), nil
	case token == "sub" && f.s.sub != nil:
		return f.s.sub, f.s.SubURL(), nil
	}
	return nil, "", fmt.Errorf("no profile %q", token)
}

// answer is the Body of the answer to op.
func (f *onvifFace) answer(op string, a opArgs) (string, error) {
	switch op {
	case "GetSystemDateAndTime":
		now := time.Now().UTC()
		return fmt.Sprintf(`<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime><tt:DateTimeType>NTP</tt:DateTimeType>`+
			`<tt:UTCDateTime><tt:Time><tt:Hour>%d</tt:Hour><tt:Minute>%d</tt:Minute><tt:Second>%d</tt:Second></tt:Time>`+
			`<tt:Date><tt:Year>%d</tt:Year><tt:Month>%d</tt:Month><tt:Day>%d</tt:Day></tt:Date></tt:UTCDateTime>`+
			`</tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse>`,
			now.Hour(), now.Minute(), now.Second(), now.Year(), int(now.Month()), now.Day()), nil
	case "GetDeviceInformation":
		return `<tds:GetDeviceInformationResponse><tds:Manufacturer>Dalaba</tds:Manufacturer><tds:Model>` + xmlText(f.cfg.Hardware) +
			`</tds:Model><tds:FirmwareVersion>sim-1</tds:FirmwareVersion><tds:SerialNumber>` + strings.TrimPrefix(f.id, "urn:uuid:")[:8] +
			`</tds:SerialNumber><tds:HardwareId>` + xmlText(f.cfg.Hardware) + `</tds:HardwareId></tds:GetDeviceInformationResponse>`, nil
	case "GetCapabilities":
		ptz := ""
		if f.cfg.PTZ {
			ptz = `<tt:PTZ><tt:XAddr>` + f.url("/onvif/ptz_service") + `</tt:XAddr></tt:PTZ>`
		}
		return `<tds:GetCapabilitiesResponse><tds:Capabilities><tt:Device><tt:XAddr>` + f.url("/onvif/device_service") +
			`</tt:XAddr></tt:Device><tt:Media><tt:XAddr>` + f.url("/onvif/media_service") + `</tt:XAddr></tt:Media>` + ptz +
			`</tds:Capabilities></tds:GetCapabilitiesResponse>`, nil
	case "GetProfiles":
		var b strings.Builder
		b.WriteString(`<trt:GetProfilesResponse>`)
		for _, tok := range f.profiles() {
			c, _, _ := f.profileClip(tok)
			enc := strings.ReplaceAll(c.info.Codec, ".", "")
			fmt.Fprintf(&b, `<trt:Profiles token="%s" fixed="true"><tt:Name>%sStream</tt:Name>`+
				`<tt:VideoEncoderConfiguration token="enc-%s"><tt:Name>%s</tt:Name><tt:Encoding>%s</tt:Encoding>`+
				`<tt:Resolution><tt:Width>%d</tt:Width><tt:Height>%d</tt:Height></tt:Resolution>`+
				`<tt:RateControl><tt:FrameRateLimit>%d</tt:FrameRateLimit><tt:BitrateLimit>%d</tt:BitrateLimit></tt:RateControl>`+
				`</tt:VideoEncoderConfiguration>`, tok, tok, tok, tok, enc, c.info.Width, c.info.Height, f.s.cfg.FPS, 1024)
			if f.cfg.PTZ {
				b.WriteString(`<tt:PTZConfiguration token="ptz0"><tt:Name>ptz</tt:Name></tt:PTZConfiguration>`)
			}
			b.WriteString(`</trt:Profiles>`)
		}
		b.WriteString(`</trt:GetProfilesResponse>`)
		return b.String(), nil
	case "GetStreamUri":
		_, u, err := f.profileClip(a.ProfileToken)
		if err != nil {
			return "", err
		}
		return `<trt:GetStreamUriResponse><trt:MediaUri><tt:Uri>` + xmlText(u) + `</tt:Uri><tt:InvalidAfterConnect>false</tt:InvalidAfterConnect>` +
			`<tt:InvalidAfterReboot>false</tt:InvalidAfterReboot><tt:Timeout>PT0S</tt:Timeout></trt:MediaUri></trt:GetStreamUriResponse>`, nil
	case "GetSnapshotUri":
		if _, _, err := f.profileClip(a.ProfileToken); err != nil {
			return "", err
		}
		return `<trt:GetSnapshotUriResponse><trt:MediaUri><tt:Uri>` + xmlText(f.url("/onvif/snapshot.jpg?profile="+a.ProfileToken)) +
			`</tt:Uri></trt:MediaUri></trt:GetSnapshotUriResponse>`, nil
	}
	if !f.cfg.PTZ {
		return "", fmt.Errorf("no operation %s", op)
	}
	if _, _, err := f.profileClip(a.ProfileToken); err != nil {
		return "", err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	switch op {
	case "ContinuousMove":
		v := a.Velocity
		f.ptz.Moves++
		f.ptz.Pan, f.ptz.Tilt, f.ptz.Zoom = 0, 0, 0
		if v.PanTilt != nil {
			f.ptz.Pan, f.ptz.Tilt = v.PanTilt.X, v.PanTilt.Y
		}
		if v.Zoom != nil {
			f.ptz.Zoom = v.Zoom.X
		}
		f.ptz.Moving = true
		return `<tptz:ContinuousMoveResponse/>`, nil
	case "Stop":
		f.ptz.Stops++
		f.ptz.Moving = false
		return `<tptz:StopResponse/>`, nil
	case "GetPresets":
		return `<tptz:GetPresetsResponse><tptz:Preset token="1"><tt:Name>大门</tt:Name></tptz:Preset>` +
			`<tptz:Preset token="2"><tt:Name>广场</tt:Name></tptz:Preset></tptz:GetPresetsResponse>`, nil
	case "GotoPreset":
		if a.PresetToken != "1" && a.PresetToken != "2" {
			return "", fmt.Errorf("no preset %q", a.PresetToken)
		}
		f.ptz.Preset = a.PresetToken
		return `<tptz:GotoPresetResponse/>`, nil
	}
	return "", fmt.Errorf("no operation %s", op)
}

// snapshot serves the still image, behind HTTP digest authentication when
// the camera has credentials, as cameras do.
func (f *onvifFace) snapshot(w http.ResponseWriter, r *http.Request) {
	if f.s.cfg.Username != "" && !httpDigestOK(r, f.s.cfg.Username, f.s.cfg.Password) {
		w.Header().Set("WWW-Authenticate", `Digest realm="dalaba-sim", qop="auth", nonce="`+uuid4()+`"`)
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	w.Header().Set("Content-Type", "image/jpeg")
	_, _ = w.Write(f.jpeg)
}

// httpDigestOK checks an HTTP Digest Authorization header (RFC 7616,
// MD5, qop auth); any nonce is taken, the sim being no security boundary.
func httpDigestOK(r *http.Request, user, pass string) bool {
	h := r.Header.Get("Authorization")
	rest, ok := strings.CutPrefix(h, "Digest ")
	if !ok {
		return false
	}
	p := map[string]string{}
	for part := range strings.SplitSeq(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if ok {
			p[k] = strings.Trim(v, `"`)
		}
	}
	md := func(s string) string { sum := md5.Sum([]byte(s)); return hex.EncodeToString(sum[:]) }
	ha1 := md(user + ":" + p["realm"] + ":" + pass)
	ha2 := md(r.Method + ":" + p["uri"])
	want := md(ha1 + ":" + p["nonce"] + ":" + p["nc"] + ":" + p["cnonce"] + ":" + p["qop"] + ":" + ha2)
	return p["username"] == user && p["response"] == want
}

// fault answers a SOAP 1.2 fault.
func fault(w http.ResponseWriter, status int, subcode, reason string) {
	w.Header().Set("Content-Type", "application/soap+xml; charset=utf-8")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"`+
		` xmlns:ter="http://www.onvif.org/ver10/error"><s:Body><s:Fault><s:Code><s:Value>s:Sender</s:Value><s:Subcode><s:Value>`+
		subcode+`</s:Value></s:Subcode></s:Code><s:Reason><s:Text xml:lang="en">`+xmlText(reason)+`</s:Text></s:Reason></s:Fault></s:Body></s:Envelope>`)
}

func xmlText(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s)) // a strings.Builder does not fail
	return b.String()
}

func uuid4() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on Linux
	b[6], b[8] = b[6]&0x0f|0x40, b[8]&0x3f|0x80
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// testCard is the snapshot's picture: colour bars.
func testCard(w, h int) image.Image {
	bars := []color.RGBA{{192, 192, 192, 255}, {192, 192, 0, 255}, {0, 192, 192, 255}, {0, 192, 0, 255},
		{192, 0, 192, 255}, {192, 0, 0, 255}, {0, 0, 192, 255}}
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for x := range w {
		c := bars[x*len(bars)/w]
		for y := range h {
			img.SetRGBA(x, y, c)
		}
	}
	return img
}

// errNoONVIF is asked of a Sim without its ONVIF face.
var errNoONVIF = errors.New("camera sim: no ONVIF face")

// ONVIFURL is the device service of the camera's ONVIF face, "" without
// one.
func (s *Sim) ONVIFURL() string {
	if s.onvif == nil {
		return ""
	}
	return s.onvif.url("/onvif/device_service")
}

// PTZ is what the camera's PTZ unit was asked so far.
func (s *Sim) PTZ() (PTZState, error) {
	if s.onvif == nil {
		return PTZState{}, errNoONVIF
	}
	s.onvif.mu.Lock()
	defer s.onvif.mu.Unlock()
	return s.onvif.ptz, nil
}
