package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/dalaba/dalaba/cloud/announce"
	"github.com/dalaba/dalaba/cloud/auth/forwarded"
	"github.com/dalaba/dalaba/cloud/broker"
	"github.com/dalaba/dalaba/cloud/tts"
	"github.com/dalaba/dalaba/internal/logging"
	"github.com/dalaba/dalaba/internal/yamlfile"
	"github.com/dalaba/dalaba/protocol"
)

// Config is everything dalaba-cloud reads at start.
type Config struct {
	DataDir string         `yaml:"data_dir"`
	HTTP    HTTP           `yaml:"http"`
	MQTT    MQTT           `yaml:"mqtt"`
	Desired Desired        `yaml:"desired"`
	Media   Media          `yaml:"media"`
	Cameras Cameras        `yaml:"cameras"`
	Lists   Lists          `yaml:"lists"`
	TTS     tts.Config     `yaml:"tts"`
	Alerts  Alerts         `yaml:"alerts"`
	Metrics Metrics        `yaml:"metrics"`
	Log     logging.Config `yaml:"log"`
	Store   Store          `yaml:"store"`
	Cluster Cluster        `yaml:"cluster"`
}

// Cluster makes the service one of several replicas sharing a PostgreSQL
// store and an external broker (a county that one machine does not hold).
type Cluster struct {
	// Replica names this process among the replicas; "" = the only one.
	// It is appended to mqtt.client_id, so each replica has its own MQTT
	// session, and it names the replica's listen file and log lines.
	// Set, the service takes box messages through a shared subscription
	// and runs the periodic jobs only while it holds the store's lease.
	Replica string `yaml:"replica"`
	// ShareGroup is the MQTT shared-subscription group the replicas take
	// box messages through ($share/<group>/...).
	ShareGroup string `yaml:"share_group"`
}

// Clustered reports whether the service is one of several replicas.
func (c Config) Clustered() bool { return c.Cluster.Replica != "" }

// ClientID is the service's MQTT client id: mqtt.client_id, with the
// replica's name when clustered, so that no two replicas share a session.
func (c Config) ClientID() string {
	if c.Clustered() {
		return c.MQTT.ClientID + "." + c.Cluster.Replica
	}
	return c.MQTT.ClientID
}

// Store kinds.
const (
	StoreBolt     = "bolt"     // one bbolt file, <data_dir>/cloud.db: a township
	StorePostgres = "postgres" // a PostgreSQL database: a county's replicas share it
)

// Store says where the service keeps what it stores.
type Store struct {
	Kind string `yaml:"kind"` // StoreBolt or StorePostgres
	// DSN is the PostgreSQL database (kind postgres): a URL
	// (postgres://user@host:5432/dalaba?sslmode=verify-full) or
	// key=value pairs, as libpq takes them.
	DSN string `yaml:"dsn"`
}

// Alerts tunes the alerting; its channels, rules and quiet hours are kept
// in the store and set through the API and the console.
type Alerts struct {
	// StartupGrace is how long after a start (or the MQTT connection's
	// return) a box missing from presence is not yet taken for offline.
	StartupGrace time.Duration `yaml:"startup_grace"`
	// Tick is how often conditions are judged and due messages sent.
	Tick time.Duration `yaml:"tick"`
}

// Metrics is the Prometheus endpoint.
type Metrics struct {
	// Token, when set, serves GET /metrics on the HTTP listener to a
	// scrape that gives it as its bearer token; empty: no endpoint.
	Token string `yaml:"token"`
}

// Lists is how the township runs its red and black lists.
type Lists struct {
	// Approvals is how many distinct reviewers, none the author, approve
	// an entry before it can be published.
	Approvals int `yaml:"approvals"`
	// Template is the announcement's wording (text/template); "" = the
	// built-in one.
	Template string `yaml:"template"`
	// Publish is when a published list is announced.
	Publish announce.Config `yaml:"publish"`
	// NoticeDays is how long a published round is first on public
	// notice (公示), open to objections; 0 = none.
	NoticeDays int `yaml:"notice_days"`
	// Rounds are the periods entries take.
	Rounds ListRounds `yaml:"rounds"`
	// Privacy is what public pages and broadcasts show, and how long
	// personal details are kept.
	Privacy ListPrivacy `yaml:"privacy"`
	// Chats is how lists are posted to the villages' group chats.
	Chats ListChats `yaml:"chats"`
}

// ListRounds: monthly, quarterly or any, by default and per category.
type ListRounds struct {
	Default    string            `yaml:"default"`
	Categories map[string]string `yaml:"categories"`
}

// ListPrivacy is cloud/lists' Privacy.
type ListPrivacy struct {
	MaskNames         bool `yaml:"mask_names"`
	PublicReasonChars int  `yaml:"public_reason_chars"`
	RetentionMonths   int  `yaml:"retention_months"`
}

// ListChats is how the group chats are posted to.
type ListChats struct {
	// Font draws the poster picture (an OpenType collection or font).
	Font string `yaml:"font"`
	// Attempts, FirstRetry and MaxRetry space a post's tries.
	Attempts   int           `yaml:"attempts"`
	FirstRetry time.Duration `yaml:"first_retry"`
	MaxRetry   time.Duration `yaml:"max_retry"`
	// ImageDays is how long a posted picture stays at its link.
	ImageDays int `yaml:"image_days"`
}

// HTTP is the API (and later console) listener.
type HTTP struct {
	Listen string `yaml:"listen"` // host:port; port 0 picks a free one
	// PublicURL is the service's HTTP base URL as boxes reach it (they
	// download clips from <public_url>/media/); "" = derived from Listen.
	PublicURL string `yaml:"public_url"`
	// TrustedProxies are the reverse proxies (addresses or CIDR prefixes)
	// whose X-Forwarded-For names the real client, which sign-in limits
	// count by; any other peer's header is ignored. Empty: none.
	TrustedProxies []string `yaml:"trusted_proxies"`
}

// Media is how uploaded audio is taken.
type Media struct {
	MaxBytes int64 `yaml:"max_bytes"` // of one clip
}

// Cameras is what the township lets boxes' cameras be.
type Cameras struct {
	// AllowLocalTargets lets a camera URL name the box itself (loopback,
	// localhost), link-local or other non-LAN addresses: for tests and
	// demos with a simulated camera on the box. Off, such a camera is
	// refused when saved, and boxes refuse it too.
	AllowLocalTargets bool `yaml:"allow_local_targets"`
}

// MQTT says which broker the service uses and how boxes reach it.
type MQTT struct {
	Embedded bool   `yaml:"embedded"`
	Listen   string `yaml:"listen"` // embedded broker, host:port
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	URL      string `yaml:"url"`     // external broker, when Embedded is false
	CAFile   string `yaml:"ca_file"` // external broker's CA; "" = system roots
	Username string `yaml:"username"`
	Password string `yaml:"password"` // external broker only; embedded makes one per start
	ClientID string `yaml:"client_id"`
	// PublicURL is what boxes are told to connect to; "" = derived.
	PublicURL string `yaml:"public_url"`
	// BoxLimit is each box's publish allowance at the embedded broker.
	BoxLimit broker.Limit `yaml:"box_limit"`
	// Connects paces box connections at the embedded broker.
	Connects broker.ConnectLimit `yaml:"connects"`
	// PresenceTimeout is, with an external broker, how long a box counts
	// as online after the last message it published.
	PresenceTimeout time.Duration `yaml:"presence_timeout"`
}

// Desired is how signed desired state is issued.
type Desired struct {
	Validity time.Duration `yaml:"validity"`
}

// CloudAccount is the service's own MQTT user name and client id by
// default. The underscore is a character no box id can have, so no box can
// ever be registered under that name or take that session.
const CloudAccount = "dalaba_cloud"

// Environment variables read on top of the file.
const (
	EnvDataDir       = "DALABA_DATA_DIR"
	EnvMQTTURL       = "DALABA_MQTT_URL"       // also turns the embedded broker off
	EnvAdminPassword = "DALABA_ADMIN_PASSWORD" // read by the assembly, on the first start only
	EnvStoreDSN      = "DALABA_STORE_DSN"      // store.dsn, and turns store.kind to postgres
	EnvReplica       = "DALABA_REPLICA"        // cluster.replica
)

// Default returns the built-in configuration.
func Default() Config {
	return Config{
		DataDir: "./data",
		HTTP:    HTTP{Listen: "127.0.0.1:8080", TrustedProxies: []string{}},
		MQTT: MQTT{
			Embedded: true,
			Listen:   "0.0.0.0:1883",
			Username: CloudAccount,
			ClientID: CloudAccount,
			BoxLimit: broker.DefaultLimit(),
			Connects: broker.DefaultConnectLimit(),
			// Two and a half of the boxes' health interval (a minute), at
			// which they republish their reported state: one late or lost
			// report does not make a box look offline.
			PresenceTimeout: 150 * time.Second,
		},
		Desired: Desired{Validity: 720 * time.Hour},
		Media:   Media{MaxBytes: 32 << 20},
		Lists: Lists{Approvals: 2, Publish: announce.Default(), NoticeDays: 3,
			Rounds:  ListRounds{Default: "monthly", Categories: map[string]string{}},
			Privacy: ListPrivacy{MaskNames: true, PublicReasonChars: 30, RetentionMonths: 24},
			Chats: ListChats{Font: "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", Attempts: 5,
				FirstRetry: 30 * time.Second, MaxRetry: 8 * time.Minute, ImageDays: 60}},
		TTS: tts.Config{
			Engine: "espeak",
			Espeak: tts.EspeakConfig{Binary: "espeak-ng", Voice: "cmn-latn-pinyin", Speed: 150, Timeout: time.Minute},
			HTTP:   tts.HTTPConfig{Timeout: time.Minute, MaxBytes: 32 << 20},
		},
		Alerts:  Alerts{StartupGrace: 3 * time.Minute, Tick: 5 * time.Second},
		Log:     logging.Default(),
		Store:   Store{Kind: StoreBolt},
		Cluster: Cluster{ShareGroup: "dalaba"},
	}
}

// Read returns the defaults overlaid with the file at path ("" = none) and
// then the environment. It does not validate, so that flags can be applied
// before Validate reports everything at once.
func Read(path string) (Config, error) {
	cfg := Default()
	if path != "" {
		if err := yamlfile.Decode(path, &cfg); err != nil {
			return Config{}, err
		}
	}
	cfg.applyEnv(os.Getenv)
	return cfg, nil
}

// Load is Read followed by Validate.
func Load(path string) (Config, error) {
	cfg, err := Read(path)
	if err != nil {
		return Config{}, err
	}
	return cfg, cfg.Validate()
}

func (c *Config) applyEnv(getenv func(string) string) {
	if v := getenv(EnvDataDir); v != "" {
		c.DataDir = v
	}
	if v := getenv(EnvMQTTURL); v != "" {
		c.MQTT.URL = v
		c.MQTT.Embedded = false
	}
	if v := getenv(EnvStoreDSN); v != "" {
		c.Store.Kind, c.Store.DSN = StorePostgres, v
	}
	if v := getenv(EnvReplica); v != "" {
		c.Cluster.Replica = v
	}
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf("config: "+format, a...)) }
	if c.DataDir == "" {
		bad("data_dir is empty")
	}
	if c.Lists.Approvals < 1 || c.Lists.Approvals > 5 {
		bad("lists.approvals %d: 1 to 5", c.Lists.Approvals)
	}
	if err := c.Lists.Publish.Validate(); err != nil {
		bad("lists.publish: %v", err)
	}
	if c.Lists.NoticeDays < 0 || c.Lists.NoticeDays > 30 {
		bad("lists.notice_days %d: 0 (no public notice) to 30", c.Lists.NoticeDays)
	}
	for what, r := range map[string]string{"lists.rounds.default": c.Lists.Rounds.Default} {
		if r != "monthly" && r != "quarterly" && r != "any" {
			bad("%s %q: monthly, quarterly or any", what, r)
		}
	}
	for cat, r := range c.Lists.Rounds.Categories {
		if r != "monthly" && r != "quarterly" && r != "any" {
			bad("lists.rounds.categories[%s] %q: monthly, quarterly or any", cat, r)
		}
	}
	if n := c.Lists.Privacy.PublicReasonChars; n != 0 && (n < 4 || n > 200) {
		bad("lists.privacy.public_reason_chars %d: 0 (in full) or 4 to 200", n)
	}
	if n := c.Lists.Privacy.RetentionMonths; n < 0 || n > 120 {
		bad("lists.privacy.retention_months %d: 0 (for ever) to 120", n)
	}
	if ch := c.Lists.Chats; ch.Attempts < 1 || ch.Attempts > 20 || ch.FirstRetry < time.Second || ch.MaxRetry < ch.FirstRetry || ch.ImageDays < 1 {
		bad("lists.chats: attempts 1-20, first_retry at least 1s, max_retry at least first_retry, image_days at least 1")
	}
	switch c.TTS.Engine {
	case "espeak":
	case "http":
		if c.TTS.HTTP.URL == "" {
			bad("tts.http.url is empty but tts.engine is http")
		}
	default:
		bad("tts.engine %q: espeak or http", c.TTS.Engine)
	}
	if _, _, err := net.SplitHostPort(c.HTTP.Listen); err != nil {
		bad("http.listen %q: %v", c.HTTP.Listen, err)
	}
	if c.HTTP.PublicURL != "" {
		if err := validateHTTPURL(c.HTTP.PublicURL); err != nil {
			bad("http.public_url: %v", err)
		}
	}
	for _, p := range c.HTTP.TrustedProxies {
		if _, err := forwarded.Parse(p); err != nil {
			bad("http.trusted_proxies: %v", err)
		}
	}
	if c.Media.MaxBytes < 1<<10 || c.Media.MaxBytes > protocol.MaxMediaBytes {
		bad("media.max_bytes %d: want 1024 to %d", c.Media.MaxBytes, protocol.MaxMediaBytes)
	}
	if c.MQTT.Embedded {
		if _, _, err := net.SplitHostPort(c.MQTT.Listen); err != nil {
			bad("mqtt.listen %q: %v", c.MQTT.Listen, err)
		}
		if (c.MQTT.CertFile == "") != (c.MQTT.KeyFile == "") {
			bad("mqtt.cert_file and mqtt.key_file go together")
		}
		if err := c.MQTT.BoxLimit.Validate(); err != nil {
			for _, e := range unjoin(err) {
				bad("mqtt.box_limit.%v", e)
			}
		}
		if err := c.MQTT.Connects.Validate(); err != nil {
			for _, e := range unjoin(err) {
				bad("mqtt.connects.%v", e)
			}
		}
	} else {
		if err := ValidateBrokerURL(c.MQTT.URL); err != nil {
			bad("mqtt.url (required when mqtt.embedded is false): %v", err)
		}
		if c.MQTT.PresenceTimeout < time.Second {
			bad("mqtt.presence_timeout %s: at least 1s", c.MQTT.PresenceTimeout)
		}
	}
	if c.MQTT.Username == "" {
		bad("mqtt.username is empty")
	}
	// A box's session is keyed by its id: a client id that could be a box id
	// would let the service and that box throw each other off the broker.
	if !strings.ContainsAny(c.MQTT.ClientID, "_.:") {
		bad("mqtt.client_id %q must contain '_', '.' or ':' so it can never equal a box id", c.MQTT.ClientID)
	}
	if c.MQTT.PublicURL != "" {
		if err := ValidateBrokerURL(c.MQTT.PublicURL); err != nil {
			bad("mqtt.public_url: %v", err)
		}
	}
	if c.Desired.Validity < time.Hour {
		bad("desired.validity %s: at least 1h", c.Desired.Validity)
	}
	if c.Alerts.StartupGrace < 0 || c.Alerts.StartupGrace > time.Hour {
		bad("alerts.startup_grace %s: 0 to 1h", c.Alerts.StartupGrace)
	}
	if c.Alerts.Tick < 100*time.Millisecond || c.Alerts.Tick > time.Minute {
		bad("alerts.tick %s: 100ms to 1m", c.Alerts.Tick)
	}
	if c.Metrics.Token != "" && len(c.Metrics.Token) < 16 {
		bad("metrics.token: at least 16 characters")
	}
	switch c.Store.Kind {
	case StoreBolt:
		if c.Store.DSN != "" {
			bad("store.dsn is set but store.kind is bolt: set kind postgres, or remove the dsn")
		}
	case StorePostgres:
		if err := validateDSN(c.Store.DSN); err != nil {
			bad("store.dsn (required when store.kind is postgres): %v", err)
		}
	default:
		bad("store.kind %q: bolt or postgres", c.Store.Kind)
	}
	if c.Clustered() {
		if !validName(c.Cluster.Replica) {
			bad("cluster.replica %q: 1-32 of a-z, 0-9 and '-'", c.Cluster.Replica)
		}
		if !validName(c.Cluster.ShareGroup) {
			bad("cluster.share_group %q: 1-32 of a-z, 0-9 and '-'", c.Cluster.ShareGroup)
		}
		// Replicas share what they store and hear boxes through one broker;
		// a bbolt file or an embedded broker would each be one replica's.
		if c.Store.Kind != StorePostgres {
			bad("cluster.replica is set: replicas need store.kind postgres")
		}
		if c.MQTT.Embedded {
			bad("cluster.replica is set: replicas need an external broker (mqtt.embedded false, mqtt.url)")
		}
	}
	errs = append(errs, c.Log.Validate()...)
	return errors.Join(errs...)
}

// validName: 1-32 of a-z, 0-9 and '-', safe in a client id, a topic
// filter and a file name.
func validName(s string) bool {
	if len(s) < 1 || len(s) > 32 {
		return false
	}
	for _, r := range s {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '-' {
			return false
		}
	}
	return true
}

// validateDSN checks what can be checked of a PostgreSQL DSN without
// connecting: present, and a postgres URL or key=value pairs.
func validateDSN(dsn string) error {
	switch {
	case strings.TrimSpace(dsn) == "":
		return errors.New("empty")
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		u, err := url.Parse(dsn)
		if err != nil {
			return errors.New("not a valid URL") // url's error would repeat a password
		}
		if u.Host == "" && u.Query().Get("host") == "" {
			return errors.New("no host")
		}
	case strings.Contains(dsn, "://"):
		return errors.New("a URL must begin postgres:// or postgresql://")
	case !strings.Contains(dsn, "="):
		return errors.New("neither a postgres:// URL nor key=value pairs")
	}
	return nil
}

// unjoin splits an errors.Join into its errors.
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// ValidateBrokerURL checks an MQTT broker URL: tcp://, ssl:// or tls://
// (or mqtt://, mqtts://) with a host and a port.
func ValidateBrokerURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	switch u.Scheme {
	case "tcp", "ssl", "tls", "mqtt", "mqtts":
	default:
		return fmt.Errorf("%q: scheme must be tcp://, ssl:// or tls://", s)
	}
	if u.Hostname() == "" || u.Port() == "" {
		return fmt.Errorf("%q: want scheme://host:port", s)
	}
	return nil
}

func validateHTTPURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("%q: want http:// or https://host[:port][/path]", s)
	}
	return nil
}

// PublicHTTPURL is the service's HTTP base URL as boxes reach it, without
// a trailing slash: public_url when set; else http:// and the listen
// address (bound, the one actually bound for port 0, or else listen), a
// wildcard host replaced by this machine's host name.
func (c Config) PublicHTTPURL(bound string) string {
	if c.HTTP.PublicURL != "" {
		return strings.TrimRight(c.HTTP.PublicURL, "/")
	}
	addr := c.HTTP.Listen
	if bound != "" {
		addr = bound
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "http://" + addr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = thisHost()
	}
	return "http://" + net.JoinHostPort(host, port)
}

// PublicBrokerURL is the broker address boxes are told to use: public_url
// when set; else the external broker's url; else the embedded broker's
// address (bound, the one actually bound for port 0, or else listen), with
// a wildcard host replaced by this machine's host name.
func (c Config) PublicBrokerURL(bound string) string {
	if c.MQTT.PublicURL != "" {
		return c.MQTT.PublicURL
	}
	if !c.MQTT.Embedded {
		return c.MQTT.URL
	}
	addr := c.MQTT.Listen
	if bound != "" {
		addr = bound
	}
	scheme := "tcp"
	if c.MQTT.CertFile != "" {
		scheme = "tls"
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return scheme + "://" + addr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = thisHost()
	}
	return scheme + "://" + net.JoinHostPort(host, port)
}

// thisHost is the machine's name, as boxes on the township network would
// dial it; loopback when the name is unknown.
func thisHost() string {
	if h, err := os.Hostname(); err == nil && h != "" {
		return h
	}
	return "127.0.0.1"
}
