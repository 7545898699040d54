package config

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"math/bits"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/dalaba/dalaba/edge/logring"
	"github.com/dalaba/dalaba/internal/logging"
	"github.com/dalaba/dalaba/internal/yamlfile"

	"github.com/dalaba/dalaba/protocol"
)

// Config is everything dalaba-edge reads at start. The zero value is not
// usable; start from Default.
type Config struct {
	BoxID          string         `yaml:"box_id"`       // required; also the MQTT client id
	TownshipKey    string         `yaml:"township_key"` // required; base64 ed25519 public key
	Broker         Broker         `yaml:"broker"`
	DataDir        string         `yaml:"data_dir"`  // default /var/lib/dalaba
	LocalAPI       string         `yaml:"local_api"` // unix socket; empty = <data_dir>/dalaba-edge.sock
	Outbox         Outbox         `yaml:"outbox"`
	HealthInterval time.Duration  `yaml:"health_interval"` // default 1m
	Media          Media          `yaml:"media"`
	Broadcast      Broadcast      `yaml:"broadcast"`
	Relay          Relay          `yaml:"relay"`
	WebRTC         WebRTC         `yaml:"webrtc"`
	Metrics        Metrics        `yaml:"metrics"`
	Diag           Diag           `yaml:"diag"`
	Update         Update         `yaml:"update"`
	Log            logging.Config `yaml:"log"`
}

// Metrics is the box's Prometheus endpoint.
type Metrics struct {
	// Listen is where GET /metrics is served ("127.0.0.1:9101", or the
	// LAN address for a township Prometheus); empty: not served.
	Listen string `yaml:"listen"`
	// Token, when set, is the bearer token a scrape must give; required
	// for an address beyond loopback.
	Token string `yaml:"token" secret:"true"`
}

// Diag is what the box keeps for remote diagnostics.
type Diag struct {
	// LogLines and LogBytes bound the ring of the box's latest log lines
	// that support reads from the township.
	LogLines int `yaml:"log_lines"`
	LogBytes int `yaml:"log_bytes"`
	// LogLevel is the least level the ring keeps, whatever log.level
	// writes to the journal.
	LogLevel string `yaml:"log_level"`
	// ProbeTimeout bounds each probe of the connectivity check.
	ProbeTimeout time.Duration `yaml:"probe_timeout"`
}

// Relay is the box's RTSP server re-serving the village's cameras to the
// LAN (an NVR) and, through WebRTC, to the township.
type Relay struct {
	// Listen is the RTSP address: rtsp://<box>:8554/<camera-id>. Default
	// loopback only; beyond it, readers must give Username and Password
	// unless Anonymous says otherwise.
	Listen string `yaml:"listen"`
	// Username and Password, when set, are what RTSP readers must give.
	Username string `yaml:"username"`
	Password string `yaml:"password" secret:"true"`
	// Anonymous lets anyone who reaches Listen watch without credentials;
	// it must be said explicitly for an address beyond loopback.
	Anonymous bool `yaml:"anonymous"`
	// Linger is how long a camera is still pulled after its last viewer
	// left.
	Linger time.Duration `yaml:"linger"`
	// UDP offers readers RTP over UDP (from RTPPort, RTCP from the next
	// port); false serves them over their RTSP connection only.
	UDP bool `yaml:"udp"`
	// RTPPort is the even UDP port RTP to readers leaves from; 0 picks a
	// free pair at start.
	RTPPort int `yaml:"rtp_port"`
	// Discovery is where the box's ONVIF discovery probes go: empty for
	// WS-Discovery's multicast group on the LAN (239.255.255.250:3702),
	// or a host:port to probe one device. DiscoveryInterface sends them
	// out of that interface; empty lets the system pick.
	Discovery          string `yaml:"discovery"`
	DiscoveryInterface string `yaml:"discovery_interface"`
}

// WebRTC is what the box's two WebRTC answerers share, the camera viewers'
// (WHEP) and the pagers': the UDP ports they bind and how long a browser
// has; and each one's limits.
type WebRTC struct {
	// UDPPortMin and UDPPortMax, when both set, bound the UDP ports every
	// WebRTC session binds, one per network interface, for a firewall
	// rule; 0 and 0: any ephemeral port.
	UDPPortMin int `yaml:"udp_port_min"`
	UDPPortMax int `yaml:"udp_port_max"`
	// SessionTimeout is how long a browser has to connect after the
	// box's answer.
	SessionTimeout time.Duration `yaml:"session_timeout"`
	// DisconnectedTimeout is how long a connected browser may be silent
	// before ICE calls it disconnected; after twice that its session ends.
	DisconnectedTimeout time.Duration `yaml:"disconnected_timeout"`
	// MaxViewers bounds camera viewers at once; MaxPages live pages.
	MaxViewers int `yaml:"max_viewers"`
	MaxPages   int `yaml:"max_pages"`
	// PageIdleTimeout ends a page that sends no audio for this long;
	// PageMaxDuration ends any page this long after it connected.
	PageIdleTimeout time.Duration `yaml:"page_idle_timeout"`
	PageMaxDuration time.Duration `yaml:"page_max_duration"`
}

// Media is where announcements come from and how much of them the box
// keeps.
type Media struct {
	// URL is the township's media base: the box fetches URL + sha256 with
	// its broker user name and password. Empty: nothing is downloaded,
	// and only clips already cached play.
	URL      string `yaml:"url"`
	MaxBytes int64  `yaml:"max_bytes"` // the cache's cap; default 512 MiB
}

// Broadcast tunes the loudspeakers' side of the box.
type Broadcast struct {
	// Grace is how late a scheduled announcement may still start (after a
	// reboot, say); later ones are skipped and recorded. Default 2m.
	Grace time.Duration `yaml:"grace"`
	// HTTPListen is where the box serves clips to network speakers that
	// fetch a URL ("0.0.0.0:8090"); empty: such speakers cannot play.
	HTTPListen string `yaml:"http_listen"`
	// HTTPAdvertise is the host those speakers reach the box at; empty:
	// the host of HTTPListen.
	HTTPAdvertise string `yaml:"http_advertise"`
}

// Broker is how the box reaches the township's MQTT broker.
type Broker struct {
	URL            string        `yaml:"url"` // required: tcp://, ssl:// or tls://host:port
	Username       string        `yaml:"username"`
	Password       string        `yaml:"password" secret:"true"`
	CAFile         string        `yaml:"ca_file"`         // PEM; empty = the system roots
	KeepAlive      time.Duration `yaml:"keepalive"`       // default 30s
	ConnectTimeout time.Duration `yaml:"connect_timeout"` // default 10s
}

// Outbox bounds the event queue and shapes its upload.
type Outbox struct {
	MaxBytes    int64         `yaml:"max_bytes"`    // default 64 MiB
	BatchEvents int           `yaml:"batch_events"` // default 500
	BatchBytes  int           `yaml:"batch_bytes"`  // default 512 KiB
	Window      int           `yaml:"window"`       // batches in flight; default 4
	AckTimeout  time.Duration `yaml:"ack_timeout"`  // default 10s
}

// MaxOutbox32 caps outbox.max_bytes on a 32-bit box (armv7). bbolt maps
// its whole file, doubling the mapping as the file grows, and a 32-bit
// process can map at most 2 GiB: an outbox allowed past that would stop
// storing events in the middle of an outage. Half a GiB of events, with
// bbolt's free pages on top, stays within a 1 GiB mapping.
const MaxOutbox32 = 512 << 20

// Default returns the built-in configuration (identity left empty).
func Default() Config {
	return Config{
		Broker:         Broker{KeepAlive: 30 * time.Second, ConnectTimeout: 10 * time.Second},
		DataDir:        "/var/lib/dalaba",
		Outbox:         Outbox{MaxBytes: 64 << 20, BatchEvents: 500, BatchBytes: 512 << 10, Window: 4, AckTimeout: 10 * time.Second},
		HealthInterval: time.Minute,
		Media:          Media{MaxBytes: 512 << 20},
		Broadcast:      Broadcast{Grace: 2 * time.Minute},
		// The parts' own defaults (edge/relay, edge/whep, edge/paging,
		// edge/rtcpeer); a test keeps them equal.
		Relay: Relay{Listen: "127.0.0.1:8554", Linger: 30 * time.Second, UDP: true},
		WebRTC: WebRTC{SessionTimeout: 15 * time.Second, DisconnectedTimeout: 5 * time.Second, MaxViewers: 16, MaxPages: 8,
			PageIdleTimeout: 10 * time.Second, PageMaxDuration: 30 * time.Minute},
		Diag:   Diag{LogLines: logring.DefaultLines, LogBytes: logring.DefaultBytes, LogLevel: "info", ProbeTimeout: 5 * time.Second},
		Update: Update{CommitAfter: 2 * time.Minute, TrialTimeout: 10 * time.Minute, MaxBoots: 3, MinFreeBytes: 64 << 20},
		Log:    logging.Default(),
	}
}

// The environment variables Load applies over the file. The password is
// here so that it can live in a systemd credential rather than the file;
// the others let an installer point a flashed image elsewhere.
const (
	EnvBrokerURL      = "DALABA_BROKER_URL"
	EnvBrokerPassword = "DALABA_BROKER_PASSWORD"
	EnvDataDir        = "DALABA_DATA_DIR"
)

// Load reads path over the defaults, then applies the DALABA_* environment
// (a set, non-empty variable wins over the file). It does not validate, so
// that flags can still override; call Validate after.
func Load(path string) (Config, error) {
	cfg := Default()
	if err := yamlfile.Decode(path, &cfg); err != nil {
		return Config{}, err
	}
	for _, o := range []struct {
		env string
		dst *string
	}{
		{EnvBrokerURL, &cfg.Broker.URL},
		{EnvBrokerPassword, &cfg.Broker.Password},
		{EnvDataDir, &cfg.DataDir},
	} {
		if v := os.Getenv(o.env); v != "" {
			*o.dst = v
		}
	}
	return cfg, nil
}

// SocketPath is the local API's unix socket: local_api, or
// <data_dir>/dalaba-edge.sock.
func (c Config) SocketPath() string {
	if c.LocalAPI != "" {
		return c.LocalAPI
	}
	return filepath.Join(c.DataDir, "dalaba-edge.sock")
}

// PublicKey returns the pinned township key (valid after Validate).
func (c Config) PublicKey() ed25519.PublicKey {
	k, _ := protocol.ParsePublicKey(c.TownshipKey) // Validate checked it
	return k
}

// maxSocketPath is the longest unix socket path Linux accepts (sun_path is
// 108 bytes with its terminating NUL). A longer one fails at listen time with
// a bare EINVAL, so it is caught here with a readable message.
const maxSocketPath = 107

// problems lists what is wrong with the relay section, each naming its
// key.
func (r Relay) problems() []error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf("config: "+format, a...)) }
	host, _, err := net.SplitHostPort(r.Listen)
	if err != nil {
		bad("relay.listen %q: want host:port", r.Listen)
	}
	if r.Password != "" && r.Username == "" {
		bad("relay.password is set but relay.username is empty")
	}
	switch {
	case r.Anonymous && r.Username != "":
		bad("relay.anonymous is true but relay.username is set: choose one")
	case err == nil && !loopback(host) && !r.Anonymous && (r.Username == "" || r.Password == ""):
		// Anyone on the LAN would watch the cameras and could probe
		// which ones answer.
		bad("relay.listen %q reaches beyond the box: set relay.username and relay.password for its RTSP readers, "+
			"or relay.anonymous: true to let anyone who reaches it watch", r.Listen)
	}
	if r.Linger < 0 || r.Linger > time.Hour {
		bad("relay.linger %s: 0 to 1h", r.Linger)
	}
	switch {
	case r.RTPPort != 0 && (r.RTPPort < 1024 || r.RTPPort > 65534 || r.RTPPort%2 != 0):
		bad("relay.rtp_port %d: an even port from 1024 to 65534 (RTCP on the next), or 0 for any free pair", r.RTPPort)
	case r.RTPPort != 0 && !r.UDP:
		bad("relay.rtp_port %d is set but relay.udp is false", r.RTPPort)
	}
	return errs
}

// loopback reports whether a listen host is reachable from the box alone.
func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// problems lists what is wrong with the webrtc section, each naming its
// key.
func (w WebRTC) problems() []error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf("config: "+format, a...)) }
	lo, hi := w.UDPPortMin, w.UDPPortMax
	switch {
	case lo == 0 && hi == 0:
	case lo < 1024 || hi > 65535 || lo > hi:
		bad("webrtc.udp_port_min and udp_port_max %d-%d: both from 1024 to 65535, min at most max, or both 0 for any port", lo, hi)
	case hi-lo+1 < w.MaxViewers+w.MaxPages:
		// A session binds a port per network interface: this is the
		// least that lets every viewer and pager in on one.
		bad("webrtc.udp_port_min-udp_port_max %d-%d: %d ports for %d sessions (max_viewers + max_pages); "+
			"widen the range, by as many again for each further network interface", lo, hi, hi-lo+1, w.MaxViewers+w.MaxPages)
	}
	if w.SessionTimeout < time.Second || w.SessionTimeout > 5*time.Minute {
		bad("webrtc.session_timeout %s: 1s to 5m", w.SessionTimeout)
	}
	if w.DisconnectedTimeout < 100*time.Millisecond || w.DisconnectedTimeout > time.Minute {
		bad("webrtc.disconnected_timeout %s: 100ms to 1m", w.DisconnectedTimeout)
	}
	if w.MaxViewers < 1 || w.MaxViewers > 256 {
		bad("webrtc.max_viewers %d: 1-256", w.MaxViewers)
	}
	if w.MaxPages < 1 || w.MaxPages > 64 {
		bad("webrtc.max_pages %d: 1-64", w.MaxPages)
	}
	if w.PageIdleTimeout < time.Second || w.PageIdleTimeout > 10*time.Minute {
		bad("webrtc.page_idle_timeout %s: 1s to 10m", w.PageIdleTimeout)
	}
	if w.PageMaxDuration < time.Minute || w.PageMaxDuration > 24*time.Hour {
		bad("webrtc.page_max_duration %s: 1m to 24h", w.PageMaxDuration)
	}
	return errs
}

// Validate reports every problem at once, one error per bad key, each
// naming the key.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf("config: "+format, a...)) }
	if err := protocol.ValidateBoxID(c.BoxID); err != nil {
		bad("box_id: %v", err)
	}
	if _, err := protocol.ParsePublicKey(c.TownshipKey); err != nil {
		bad("township_key: %v", err)
	}
	u, err := url.Parse(c.Broker.URL)
	switch {
	case c.Broker.URL == "":
		bad("broker.url is empty: want tcp://, ssl:// or tls://host:port")
	case err != nil || u.Hostname() == "" || u.Port() == "" || (u.Scheme != "tcp" && u.Scheme != "ssl" && u.Scheme != "tls"):
		bad("broker.url %q: want tcp://, ssl:// or tls://host:port", c.Broker.URL)
	case c.Broker.CAFile != "" && u.Scheme == "tcp":
		bad("broker.ca_file is set but broker.url %q is not ssl:// or tls://", c.Broker.URL)
	}
	if c.Broker.CAFile != "" {
		if _, err := os.Stat(c.Broker.CAFile); err != nil {
			bad("broker.ca_file: %v", err)
		}
	}
	// MQTT counts keepalive in whole seconds, up to 65535.
	if c.Broker.KeepAlive < time.Second || c.Broker.KeepAlive > 65535*time.Second {
		bad("broker.keepalive %s: 1s to 18h", c.Broker.KeepAlive)
	}
	if c.Broker.ConnectTimeout < time.Second {
		bad("broker.connect_timeout %s: at least 1s", c.Broker.ConnectTimeout)
	}
	if c.DataDir == "" {
		bad("data_dir is empty")
	}
	if p := c.SocketPath(); len(p) > maxSocketPath {
		bad("local_api %q: a unix socket path is at most %d bytes; set local_api to a shorter one", p, maxSocketPath)
	}
	if c.Outbox.MaxBytes < 1<<20 {
		bad("outbox.max_bytes %d: at least 1 MiB", c.Outbox.MaxBytes)
	}
	if bits.UintSize == 32 && c.Outbox.MaxBytes > MaxOutbox32 {
		bad("outbox.max_bytes %d: at most %d (512 MiB) on a 32-bit box, whose outbox file must fit a memory mapping under 2 GiB", c.Outbox.MaxBytes, MaxOutbox32)
	}
	if c.Outbox.BatchEvents < 1 || c.Outbox.BatchEvents > protocol.MaxBatchEvents {
		bad("outbox.batch_events %d: 1-%d", c.Outbox.BatchEvents, protocol.MaxBatchEvents)
	}
	// Half the events topic's limit leaves room for the JSON framing of a
	// batch whose stored bytes are at the cap.
	if maxB := protocol.KindEvents.MaxPayload() / 2; c.Outbox.BatchBytes < 16<<10 || c.Outbox.BatchBytes > maxB {
		bad("outbox.batch_bytes %d: 16384 to %d", c.Outbox.BatchBytes, maxB)
	}
	if c.Outbox.Window < 1 || c.Outbox.Window > 64 {
		bad("outbox.window %d: 1-64", c.Outbox.Window)
	}
	if c.Outbox.AckTimeout < time.Second {
		bad("outbox.ack_timeout %s: at least 1s", c.Outbox.AckTimeout)
	}
	if c.HealthInterval < time.Second {
		bad("health_interval %s: at least 1s", c.HealthInterval)
	}
	if c.Media.URL != "" {
		if u, err := url.Parse(c.Media.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("media.url %q: want an http:// or https:// URL", c.Media.URL)
		}
	}
	if c.Media.MaxBytes < 16<<20 {
		bad("media.max_bytes %d: at least 16 MiB", c.Media.MaxBytes)
	}
	if c.Broadcast.Grace < time.Second || c.Broadcast.Grace > 24*time.Hour {
		bad("broadcast.grace %s: 1s to 24h", c.Broadcast.Grace)
	}
	if c.Broadcast.HTTPListen != "" {
		if _, _, err := net.SplitHostPort(c.Broadcast.HTTPListen); err != nil {
			bad("broadcast.http_listen %q: want host:port", c.Broadcast.HTTPListen)
		}
	}
	errs = append(errs, c.Relay.problems()...)
	errs = append(errs, c.WebRTC.problems()...)
	if lo, hi := c.WebRTC.UDPPortMin, c.WebRTC.UDPPortMax; c.Relay.UDP && c.Relay.RTPPort != 0 && lo != 0 && c.Relay.RTPPort+1 >= lo && c.Relay.RTPPort <= hi {
		bad("relay.rtp_port %d: its pair %d-%d overlaps webrtc.udp_port_min-udp_port_max %d-%d", c.Relay.RTPPort, c.Relay.RTPPort, c.Relay.RTPPort+1, lo, hi)
	}
	if c.Relay.Discovery != "" {
		if _, _, err := net.SplitHostPort(c.Relay.Discovery); err != nil {
			bad("relay.discovery %q: want host:port, or empty for the LAN's multicast group", c.Relay.Discovery)
		}
	}
	errs = append(errs, c.Metrics.problems()...)
	errs = append(errs, c.Diag.problems()...)
	errs = append(errs, c.Update.problems()...)
	errs = append(errs, c.Log.Validate()...)
	return errors.Join(errs...)
}

// problems lists what is wrong with the metrics section.
func (m Metrics) problems() []error {
	if m.Listen == "" {
		if m.Token != "" {
			return []error{errors.New("config: metrics.token is set but metrics.listen is empty")}
		}
		return nil
	}
	host, _, err := net.SplitHostPort(m.Listen)
	switch {
	case err != nil:
		return []error{fmt.Errorf("config: metrics.listen %q: want host:port", m.Listen)}
	case !loopback(host) && m.Token == "":
		// The counts name the village's speakers and cameras and show
		// when it broadcasts; beyond the box, only a scraper that knows
		// the token reads them.
		return []error{fmt.Errorf("config: metrics.listen %q reaches beyond the box: set metrics.token, the bearer token the scraper gives", m.Listen)}
	case m.Token != "" && len(m.Token) < 16:
		return []error{errors.New("config: metrics.token: at least 16 characters")}
	}
	return nil
}

// problems lists what is wrong with the diag section.
func (d Diag) problems() []error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf("config: "+format, a...)) }
	if d.LogLines < 100 || d.LogLines > 100_000 {
		bad("diag.log_lines %d: 100 to 100000", d.LogLines)
	}
	if d.LogBytes < 64<<10 || d.LogBytes > 64<<20 {
		bad("diag.log_bytes %d: 65536 to 67108864", d.LogBytes)
	}
	switch d.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		bad("diag.log_level %q: debug, info, warn or error", d.LogLevel)
	}
	if d.ProbeTimeout < 100*time.Millisecond || d.ProbeTimeout > time.Minute {
		bad("diag.probe_timeout %s: 100ms to 1m", d.ProbeTimeout)
	}
	return errs
}

// Level is the ring's least level (valid after Validate).
func (d Diag) Level() slog.Level {
	var l slog.Level
	_ = l.UnmarshalText([]byte(d.LogLevel)) // Validate checked it
	return l
}

// Update is how the box takes software updates (edge/update, edge/slot).
type Update struct {
	// SlotsDir holds the software slots a and b and their state;
	// empty: <data_dir>/slots.
	SlotsDir string `yaml:"slots_dir"`
	// CommitAfter is how long a new version must stay connected with its
	// desired state applied before it is kept.
	CommitAfter time.Duration `yaml:"commit_after"`
	// TrialTimeout is how long a new version has to get there before the
	// box goes back to the previous one.
	TrialTimeout time.Duration `yaml:"trial_timeout"`
	// MaxBoots is how many starts a new version gets before
	// `dalaba-edge slot boot` goes back to the previous one.
	MaxBoots int `yaml:"max_boots"`
	// MinFreeBytes is the free disk a download must leave.
	MinFreeBytes int64 `yaml:"min_free_bytes"`
}

// Slots is the slots directory (valid after Validate).
func (c Config) Slots() string {
	if c.Update.SlotsDir != "" {
		return c.Update.SlotsDir
	}
	return filepath.Join(c.DataDir, "slots")
}

func (u Update) problems() []error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf("config: "+format, a...)) }
	if u.SlotsDir != "" && !filepath.IsAbs(u.SlotsDir) {
		bad("update.slots_dir %q: an absolute path, or empty for <data_dir>/slots", u.SlotsDir)
	}
	if u.CommitAfter < time.Second || u.CommitAfter > time.Hour {
		bad("update.commit_after %s: 1s to 1h", u.CommitAfter)
	}
	if u.TrialTimeout <= u.CommitAfter || u.TrialTimeout > 24*time.Hour {
		bad("update.trial_timeout %s: longer than commit_after, at most 24h", u.TrialTimeout)
	}
	if u.MaxBoots < 1 || u.MaxBoots > 10 {
		bad("update.max_boots %d: 1 to 10", u.MaxBoots)
	}
	if u.MinFreeBytes < 0 {
		bad("update.min_free_bytes %d: not negative", u.MinFreeBytes)
	}
	return errs
}
