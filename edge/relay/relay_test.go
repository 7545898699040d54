package relay

import (
	"errors"
	"net"
	"net/netip"

	"net/url"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/gortsplib/v5/pkg/liberrors"

	"github.com/dalaba/dalaba/devices/camera/sim"
	"github.com/dalaba/dalaba/protocol"
)

// TestSharedUpstream: two readers share one pull, and what they get is
// what the camera sent, byte for byte.
func TestSharedUpstream(t *testing.T) {
	cam := startCamera(t, sim.Config{})
	r := startRelay(t, quick(), Camera{ID: "cam1", URL: cam.URL(), AllowLocal: true})

	a, err := dial(t, r.URL("cam1"))
	if err != nil {
		t.Fatalf("reader a: %v", err)
	}
	b, err := dial(t, r.URL("cam1"))
	if err != nil {
		t.Fatalf("reader b: %v", err)
	}
	if st := cam.Stats(); st.Sessions != 1 || st.Readers != 1 {
		t.Fatalf("camera sees %d sessions, %d readers; want one pull", st.Sessions, st.Readers)
	}
	waitFor(t, "both readers get access units", func() bool {
		_, na := a.received()
		_, nb := b.received()
		return na >= 10 && nb >= 10
	})
	if got := r.stats("cam1"); got.Readers != 2 || !got.Connected || got.Packets == 0 || got.Bytes == 0 {
		t.Errorf("Stats = %+v; want 2 readers, connected, packets counted", got)
	}

	// A reader of the camera itself gets the same sequence numbers and
	// timestamps (the camera's stream gives every reader the same): the
	// relayed packets must match it but for the SSRC.
	direct, err := dial(t, cam.URL())
	if err != nil {
		t.Fatalf("direct reader: %v", err)
	}
	waitFor(t, "the direct reader gets packets", func() bool { p, _ := direct.received(); return len(p) >= 40 })
	dp, _ := direct.received()
	last := dp[len(dp)-1].SequenceNumber
	waitFor(t, "the relayed readers reach the direct reader's last packet", func() bool {
		return has(a, last) && has(b, last)
	})
	want := map[uint16][]byte{}
	for _, p := range dp {
		raw, _ := p.Marshal()
		want[p.SequenceNumber] = raw
	}
	for name, rd := range map[string]*reader{"a": a, "b": b} {
		pkts, _ := rd.received()
		same := 0
		for _, p := range pkts {
			w, ok := want[p.SequenceNumber]
			if !ok {
				continue
			}
			p.SSRC = ssrcOf(w)
			raw, _ := p.Marshal()
			if string(raw) != string(w) {
				t.Fatalf("reader %s: packet %d differs from the camera's", name, p.SequenceNumber)
			}
			same++
		}
		if same < 30 {
			t.Errorf("reader %s: only %d packets to compare with the camera's", name, same)
		}
	}
}

func has(r *reader, seq uint16) bool {
	pkts, _ := r.received()
	for _, p := range pkts {
		if p.SequenceNumber == seq {
			return true
		}
	}
	return false
}

func ssrcOf(raw []byte) uint32 {
	return uint32(raw[8])<<24 | uint32(raw[9])<<16 | uint32(raw[10])<<8 | uint32(raw[11])
}

// TestLinger: the pull outlives its last reader by Linger, then stops.
func TestLinger(t *testing.T) {
	cam := startCamera(t, sim.Config{})
	cfg := quick()
	cfg.Linger = 500 * time.Millisecond
	r := startRelay(t, cfg, Camera{ID: "cam1", URL: cam.URL(), AllowLocal: true})
	rd, err := dial(t, r.URL("cam1"))
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "frames", func() bool { _, n := rd.received(); return n > 0 })
	// The clock is read before the reader goes: the relay may count it
	// out, and start the linger, before Close returns.
	left := time.Now()
	rd.c.Close()
	waitFor(t, "the relay counts the reader out", func() bool { return r.stats("cam1").Readers == 0 })
	if cam.Stats().Readers != 1 && time.Since(left) < cfg.Linger {
		t.Errorf("the pull stopped before the linger")
	}
	waitFor(t, "the camera sees no reader", func() bool { return cam.Stats().Readers == 0 })
	if d := time.Since(left); d < cfg.Linger {
		t.Errorf("the pull stopped %v after the last reader left; linger is %v", d, cfg.Linger)
	}
	// The camera may see the pull end a moment before the relay has
	// marked it down.
	waitFor(t, "Stats says not connected after the linger", func() bool { return !r.stats("cam1").Connected })
	if v := r.ev.of(EventViewer); len(v) != 1 || v[0].Camera != "cam1" || v[0].Reader == "" || !v[0].To.After(v[0].From) {
		t.Errorf("viewer events %+v; want one for cam1 with who and when", v)
	}
}

// TestCameraLoss: the camera goes away and comes back on the same
// address; the relay is never restarted.
func TestCameraLoss(t *testing.T) {
	cam := startCamera(t, sim.Config{})
	addr := cam.Addr().String()
	r := startRelay(t, quick(), Camera{ID: "cam1", URL: cam.URL(), AllowLocal: true})
	rd, err := dial(t, r.URL("cam1"))
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "frames", func() bool { _, n := rd.received(); return n > 0 })
	waitFor(t, "camera.online", func() bool { return len(r.ev.of(EventOnline)) == 1 })

	cam.Stop()
	select {
	case err := <-rd.closed:
		t.Logf("reader's session ended: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("the reader's session did not end when the camera went away")
	}
	waitFor(t, "camera.offline", func() bool { return len(r.ev.of(EventOffline)) == 1 })
	if off := r.ev.of(EventOffline)[0]; off.Camera != "cam1" || off.Error == "" {
		t.Errorf("offline event %+v; want cam1 with the error", off)
	}
	// While it is away, a reader is told why.
	if _, err := dial(t, r.URL("cam1")); !isStatus(err, 503) {
		t.Errorf("reader of a lost camera: %v; want 503", err)
	}

	back := startCamera(t, sim.Config{Listen: addr})
	rd2, err := dial(t, r.URL("cam1"))
	if err != nil {
		t.Fatalf("reader after the camera came back: %v", err)
	}
	waitFor(t, "frames again", func() bool { _, n := rd2.received(); return n > 0 })
	waitFor(t, "camera.online again", func() bool { return len(r.ev.of(EventOnline)) == 2 })
	if back.Stats().Sessions != 1 {
		t.Errorf("the camera that came back saw %d sessions; want 1", back.Stats().Sessions)
	}
}

// isStatus reports whether err is a response with the RTSP status code.
func isStatus(err error, code int) bool {
	if e, ok := errors.AsType[liberrors.ErrClientBadStatusCode](err); ok {
		return int(e.Code) == code
	}
	return false
}

// TestRefused: what the relay does not serve, with the right status.
func TestRefused(t *testing.T) {
	cam := startCamera(t, sim.Config{})
	cfg := quick()
	cfg.Username, cfg.Password = "viewer", "secret"
	cfg.MaxReadersPerCamera = 1
	cfg.DescribeWait = 500 * time.Millisecond
	r := startRelay(t, cfg,
		Camera{ID: "cam1", URL: cam.URL(), AllowLocal: true},
		Camera{ID: "gone", URL: "rtsp://127.0.0.1:1/nothing", AllowLocal: true},
	)
	with := func(user, pass, path string) string {
		u, _ := url.Parse(r.URL(path))
		if user != "" {
			u.User = url.UserPassword(user, pass)
		}
		return u.String()
	}
	// The one reader cam1 admits.
	if _, err := dial(t, with("viewer", "secret", "cam1")); err != nil {
		t.Fatalf("a reader with the right credentials: %v", err)
	}
	for _, c := range []struct {
		name, url string
		code      int
		reason    string
	}{
		{"unknown camera", with("viewer", "secret", "cam9"), 404, "no camera"},
		{"wrong password", with("viewer", "guess", "cam1"), 401, ""},
		{"no credentials", with("", "", "cam1"), 401, ""},
		{"one reader too many", with("viewer", "secret", "cam1"), 503, "readers already"},
		{"unreachable camera", with("viewer", "secret", "gone"), 503, "unreachable"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := dial(t, c.url)
			if err == nil {
				t.Fatal("served")
			}
			if !isStatus(err, c.code) && !(c.code == 401 && strings.Contains(err.Error(), "401")) {
				t.Fatalf("refused with %v; want %d", err, c.code)
			}
			if !strings.Contains(err.Error(), c.reason) {
				t.Errorf("refused with %q; want the reason %q", err, c.reason)
			}
		})
	}
	if n := cam.Stats().Sessions; n != 1 {
		t.Errorf("camera saw %d sessions; refused readers must not pull it", n)
	}
}

// TestTCPOnly: a relay told to use no UDP refuses a reader asking for it
// with 461, so the player falls back to TCP, which it serves.
func TestTCPOnly(t *testing.T) {
	cam := startCamera(t, sim.Config{})
	cfg := quick()
	cfg.TCPOnly = true
	r := startRelay(t, cfg, Camera{ID: "cam1", URL: cam.URL(), AllowLocal: true})
	if _, err := dial(t, r.URL("cam1")); err != nil {
		t.Fatalf("a TCP reader: %v", err)
	}
	u, err := base.ParseURL(r.URL("cam1"))
	if err != nil {
		t.Fatal(err)
	}
	udp := gortsplib.ProtocolUDP
	c := &gortsplib.Client{Scheme: u.Scheme, Host: u.Host, Protocol: &udp, ReadTimeout: 5 * time.Second}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	desc, _, err := c.Describe(u)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SetupAll(desc.BaseURL, desc.Medias); !isStatus(err, 461) {
		t.Fatalf("a UDP reader of a TCP-only relay: %v, want 461 Unsupported Transport", err)
	}
	if _, err := New(Config{Listen: "127.0.0.1:0", TCPOnly: true, RTPPort: 8000}, Deps{}); err == nil || !strings.Contains(err.Error(), "TCP only") {
		t.Errorf("a TCP-only relay with an RTP port: %v", err)
	}
}

// TestMaxReadersPerBox: the box-wide limit counts every camera.
func TestMaxReadersPerBox(t *testing.T) {
	cam := startCamera(t, sim.Config{})
	cfg := quick()
	cfg.MaxReaders = 2
	r := startRelay(t, cfg, Camera{ID: "a", URL: cam.URL(), AllowLocal: true}, Camera{ID: "b", URL: cam.URL(), AllowLocal: true})
	for _, id := range []string{"a", "b"} {
		if _, err := dial(t, r.URL(id)); err != nil {
			t.Fatalf("reader of %s: %v", id, err)
		}
	}
	_, err := dial(t, r.URL("a"))
	if !isStatus(err, 503) || !strings.Contains(err.Error(), "the box has") {
		t.Errorf("third reader: %v; want 503 for the box", err)
	}
}

// TestSubscribe: the WebRTC side's reader shares the pull and counts.
func TestSubscribe(t *testing.T) {
	cam := startCamera(t, sim.Config{})
	cfg := quick()
	cfg.MaxReadersPerCamera = 1
	r := startRelay(t, cfg, Camera{ID: "cam1", URL: cam.URL(), AllowLocal: true})

	if _, err := r.Subscribe(t.Context(), "nope"); !errors.Is(err, ErrUnknownCamera) {
		t.Errorf("unknown camera: %v", err)
	}
	sub, err := r.Subscribe(WithReader(t.Context(), "webrtc 10.0.0.9"), "cam1")
	if err != nil {
		t.Fatal(err)
	}
	desc, pkts, release := sub.Desc, sub.Packets, sub.Release
	defer release()
	var h264 *format.H264
	if desc.FindFormat(&h264) == nil || len(h264.SPS) == 0 {
		t.Fatalf("description %+v has no H.264 with its SPS", desc)
	}
	for range 50 {
		select {
		case p, ok := <-pkts:
			if !ok {
				t.Fatal("packets closed")
			}
			if p.PayloadType != h264.PayloadTyp || len(p.Payload) == 0 {
				t.Fatalf("packet %+v", p.Header)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no packets")
		}
	}
	if got := r.stats("cam1"); got.Readers != 1 {
		t.Errorf("Stats readers %d; want the subscriber counted", got.Readers)
	}
	if _, err := dial(t, r.URL("cam1")); !isStatus(err, 503) {
		t.Errorf("RTSP reader past the limit the subscriber holds: %v; want 503", err)
	}
	release()
	release() // twice is fine
	for range pkts {
	}
	waitFor(t, "the pull lingers then stops", func() bool { return cam.Stats().Readers == 0 })
	v := r.ev.of(EventViewer)
	if len(v) != 1 || v[0].Reader != "webrtc 10.0.0.9" {
		t.Errorf("viewer events %+v; want the subscriber's", v)
	}
}

// TestSubscriberToldOfLoss: a lost camera closes the subscription.
func TestSubscriberToldOfLoss(t *testing.T) {
	cam := startCamera(t, sim.Config{})
	r := startRelay(t, quick(), Camera{ID: "cam1", URL: cam.URL(), AllowLocal: true})
	sub, err := r.Subscribe(t.Context(), "cam1")
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Release()
	pkts := sub.Packets
	<-pkts
	cam.Stop()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case _, ok := <-pkts:
			if !ok {
				waitFor(t, "readers counted out", func() bool { return r.stats("cam1").Readers == 0 })
				return
			}
		case <-deadline:
			t.Fatal("subscription not closed when the camera went away")
		}
	}
}

// TestAlwaysOn: pulled from Run on, readers or not; removal stops it.
func TestAlwaysOn(t *testing.T) {
	cam := startCamera(t, sim.Config{})
	r := startRelay(t, quick(), Camera{ID: "cam1", URL: cam.URL(), AlwaysOn: true, AllowLocal: true})
	waitFor(t, "the camera is pulled without a reader", func() bool { return cam.Stats().Readers == 1 })
	time.Sleep(3 * quick().Linger)
	if cam.Stats().Readers != 1 {
		t.Fatal("an AlwaysOn camera was released")
	}
	rd, err := dial(t, r.URL("cam1"))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.SetCameras(nil); err != nil {
		t.Fatal(err)
	}
	select {
	case <-rd.closed:
	case <-time.After(5 * time.Second):
		t.Fatal("the reader of a removed camera was not disconnected")
	}
	waitFor(t, "the removed camera is released", func() bool { return cam.Stats().Readers == 0 })
	if _, err := dial(t, r.URL("cam1")); !isStatus(err, 404) {
		t.Errorf("reader of a removed camera: %v; want 404", err)
	}
}

// TestANameForTheBoxItselfIsRefusedWhenDialled: a camera host name that
// resolves to loopback passes validation (names are not resolved then)
// but the relay refuses to connect to it, unless the township allows it.
func TestANameForTheBoxItselfIsRefusedWhenDialled(t *testing.T) {
	cam := startCamera(t, sim.Config{})
	name := loopbackName(t)
	u, err := url.Parse(cam.URL())
	if err != nil {
		t.Fatal(err)
	}
	u.Host = net.JoinHostPort(name, u.Port())
	byName := u.String()
	r := startRelay(t, quick(), Camera{ID: "byname", URL: byName, AlwaysOn: true})
	waitFor(t, "the refused dial", func() bool { return strings.Contains(r.stats("byname").LastError, "not a camera address") })
	if st := r.stats("byname"); st.Connected || cam.Stats().Sessions != 0 {
		t.Fatalf("the relay reached the box's own port through %s: %+v, camera sessions %d", name, st, cam.Stats().Sessions)
	}
	if err := r.SetCameras([]Camera{{ID: "byname", URL: byName, AlwaysOn: true, AllowLocal: true}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the allowed pull", func() bool { return r.stats("byname").Connected })
}

// loopbackName is a host name other than localhost that resolves to a
// loopback address only: this machine's name, or one of the names Debian
// puts in /etc/hosts.
func loopbackName(t *testing.T) string {
	t.Helper()
	host, _ := os.Hostname() // "" is skipped below
	for _, name := range []string{host, "ip6-localhost", "ip6-loopback", "localhost.localdomain"} {
		if name == "" || protocol.CheckCameraHost(name) != nil {
			continue
		}
		addrs, err := net.DefaultResolver.LookupNetIP(t.Context(), "ip", name)
		if err != nil || len(addrs) == 0 {
			continue
		}
		if !slices.ContainsFunc(addrs, func(a netip.Addr) bool { return !a.Unmap().IsLoopback() }) {
			return name
		}
	}
	t.Skip("no host name here resolves to loopback alone; TestDialCheck covers the check")
	return ""
}

// TestDialCheck: the dialer's check refuses the addresses a name may
// resolve to that are no camera's, and lets a LAN camera through.
func TestDialCheck(t *testing.T) {
	for _, a := range []string{"127.0.0.1:554", "127.0.1.1:8554", "[::1]:554", "169.254.169.254:80", "[fe80::1%eth0]:554", "0.0.0.0:22", "[::ffff:127.0.0.1]:22"} {
		if err := refuseLocal("tcp", a, nil); !errors.Is(err, protocol.ErrLocalTarget) {
			t.Errorf("dialling %s: %v, want refused", a, err)
		}
	}
	for _, a := range []string{"192.168.1.64:554", "10.0.0.2:8554", "[fd12::10]:554"} {
		if err := refuseLocal("tcp", a, nil); err != nil {
			t.Errorf("dialling %s: %v, want allowed", a, err)
		}
	}
}

// TestValidate: malformed cameras and configs are refused, whole.
func TestValidate(t *testing.T) {
	good := Camera{ID: "cam1", URL: "rtsp://10.255.0.1:554/stream1"}
	for _, c := range []struct {
		name string
		cams []Camera
		want string
	}{
		{"empty id", []Camera{{URL: good.URL}}, "id is empty"},
		{"id with a slash", []Camera{{ID: "a/b", URL: good.URL}}, "characters"},
		{"id too long", []Camera{{ID: strings.Repeat("a", 65), URL: good.URL}}, "longer"},
		{"no url", []Camera{{ID: "cam1"}}, "url is empty"},
		{"http url", []Camera{{ID: "cam1", URL: "http://10.255.0.1/x"}}, "scheme"},
		{"no host", []Camera{{ID: "cam1", URL: "rtsp:///x"}}, "no host"},
		{"credentials in url", []Camera{{ID: "cam1", URL: "rtsp://u:p@10.255.0.1/x"}}, "not in the url"},
		{"password alone", []Camera{{ID: "cam1", URL: good.URL, Password: "p"}}, "password without"},
		{"bad transport", []Camera{{ID: "cam1", URL: good.URL, Transport: "quic"}}, "transport"},
		{"duplicate id", []Camera{good, good}, "twice"},
		{"every problem at once", []Camera{{ID: "a b", Transport: "x"}}, "url is empty"},
		{"the box's own ssh port", []Camera{{ID: "cam1", URL: "rtsp://127.0.0.1:22/"}}, "loopback"},
		{"localhost", []Camera{{ID: "cam1", URL: "rtsp://localhost:8554/cam1"}}, "the box itself"},
		{"the cloud's metadata service", []Camera{{ID: "cam1", URL: "rtsp://169.254.169.254:80/"}}, "link-local"},
		{"IPv6 link-local", []Camera{{ID: "cam1", URL: "rtsp://[fe80::1%25eth0]:554/"}}, "link-local"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r, err := New(quick(), Deps{})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if err := r.SetCameras([]Camera{good}); err != nil {
				t.Fatal(err)
			}
			err = r.SetCameras(c.cams)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("SetCameras: %v; want %q", err, c.want)
			}
			if st := r.Stats(); len(st) != 1 || st[0].ID != "cam1" {
				t.Errorf("a refused set changed the cameras: %+v", st)
			}
		})
	}
	for _, c := range []struct {
		name string
		cfg  Config
	}{
		{"odd rtp port", Config{RTPPort: 8001}},
		{"password alone", Config{Password: "x"}},
		{"backoff upside down", Config{BackoffMin: time.Minute, BackoffMax: time.Second}},
		{"negative linger", Config{Linger: -time.Second}},
	} {
		t.Run("config "+c.name, func(t *testing.T) {
			if r, err := New(c.cfg, Deps{}); err == nil {
				r.Close()
				t.Error("New accepted it")
			}
		})
	}
}

// TestNoLeaks: goroutines back to baseline and the port free again once
// readers and the relay stop.
func TestNoLeaks(t *testing.T) {
	base := runtime.NumGoroutine()
	cam := startCamera(t, sim.Config{})
	r := startRelay(t, quick(), Camera{ID: "cam1", URL: cam.URL(), AllowLocal: true})
	addr := r.Addr().String()
	for range 2 {
		rd, err := dial(t, r.URL("cam1"))
		if err != nil {
			t.Fatal(err)
		}
		waitFor(t, "frames", func() bool { _, n := rd.received(); return n > 0 })
		rd.c.Close()
	}
	sub, err := r.Subscribe(t.Context(), "cam1")
	if err != nil {
		t.Fatal(err)
	}
	<-sub.Packets
	sub.Release()
	r.Stop()
	cam.Stop()

	const tolerance = 2
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > base+tolerance {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines, baseline %d:\n%s", runtime.NumGoroutine(), base, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond)
	}
	again, err := New(Config{Listen: addr}, Deps{})
	if err != nil {
		t.Fatalf("the port was not released: %v", err)
	}
	again.Close()
}

// TestSetLimits: a new desired state's limits apply to the next reader.
func TestSetLimits(t *testing.T) {
	cam := startCamera(t, sim.Config{})
	r := startRelay(t, quick(), Camera{ID: "a", URL: cam.URL(), AllowLocal: true})
	if _, err := dial(t, r.URL("a")); err != nil {
		t.Fatal(err)
	}
	r.SetLimits(1, 0)
	if _, err := dial(t, r.URL("a")); !isStatus(err, 503) || !strings.Contains(err.Error(), "readers already") {
		t.Fatalf("second reader with a limit of one per camera: %v; want 503", err)
	}
	r.SetLimits(2, 0)
	if _, err := dial(t, r.URL("a")); err != nil {
		t.Fatalf("second reader once the limit is two: %v", err)
	}
}
