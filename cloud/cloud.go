package cloud

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/dalaba/dalaba/cloud/announce"
	"github.com/dalaba/dalaba/cloud/auth"
	"github.com/dalaba/dalaba/cloud/auth/forwarded"
	"github.com/dalaba/dalaba/cloud/broker"
	"github.com/dalaba/dalaba/cloud/bulk"
	"github.com/dalaba/dalaba/cloud/config"
	"github.com/dalaba/dalaba/cloud/console"
	"github.com/dalaba/dalaba/cloud/downlink"
	"github.com/dalaba/dalaba/cloud/enroll"
	"github.com/dalaba/dalaba/cloud/fleet"
	"github.com/dalaba/dalaba/cloud/lease"
	"github.com/dalaba/dalaba/cloud/lists"
	"github.com/dalaba/dalaba/cloud/media"
	"github.com/dalaba/dalaba/cloud/notify"
	"github.com/dalaba/dalaba/cloud/plan"
	"github.com/dalaba/dalaba/cloud/poster"
	"github.com/dalaba/dalaba/cloud/release"
	"github.com/dalaba/dalaba/cloud/rollout"
	"github.com/dalaba/dalaba/cloud/tts"
	"github.com/dalaba/dalaba/cloud/web"
	"github.com/dalaba/dalaba/protocol"
)

// Deps are what main gives the service.
type Deps struct {
	Logger  *slog.Logger
	Version string
	// Stdout receives the first admin's generated password, once.
	Stdout io.Writer
	// PasswordCost is the bcrypt cost of new password hashes; 0 =
	// bcrypt.DefaultCost. Tests lower it.
	PasswordCost int
}

// Cloud is the township service.
type Cloud struct {
	cfg  config.Config
	deps Deps
	log  *slog.Logger
}

// Timings of the HTTP server.
const (
	readHeaderTimeout = 10 * time.Second
	idleTimeout       = 2 * time.Minute
	// drainTimeout bounds the wait for requests in flight at shutdown.
	drainTimeout = 10 * time.Second
)

// New validates cfg; nothing is opened or started before Run.
func New(cfg config.Config, deps Deps) (*Cloud, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Logger == nil {
		return nil, errors.New("cloud: new: no Deps.Logger")
	}
	if deps.Stdout == nil {
		deps.Stdout = io.Discard
	}
	return &Cloud{cfg: cfg, deps: deps, log: deps.Logger.With("component", "cloud")}, nil
}

// relay breaks the construction cycle between the fleet, which publishes
// through the downlink, and the downlink, which hands messages to the
// fleet. dl is set once, before anything runs.
type relay struct{ dl *downlink.Downlink }

func (r *relay) PublishDesired(ctx context.Context, box string, payload []byte) error {
	return r.dl.PublishDesired(ctx, box, payload)
}

// Run serves until ctx ends or a part fails, then stops the parts in
// reverse order and returns the first failure.
func (c *Cloud) Run(ctx context.Context) error {
	st, err := openStore(ctx, c.cfg)
	if err != nil {
		return err
	}
	// Whoever waits for listen.json must not read the last run's ports.
	listen := c.listenFile()
	if err := removeListen(c.cfg.DataDir, listen); err != nil {
		return err
	}
	defer func() {
		if err := removeListen(c.cfg.DataDir, listen); err != nil {
			c.log.Warn("stale listen file left", "err", err)
		}
	}()
	defer func() {
		if err := st.Close(); err != nil {
			c.log.Error("closing the store", "err", err)
		}
	}()
	key, err := loadKey(c.cfg.DataDir, c.log)
	if err != nil {
		return err
	}
	au, err := auth.New(auth.Deps{Logger: c.deps.Logger, Store: st, BcryptCost: c.deps.PasswordCost})
	if err != nil {
		return err
	}
	if err := bootstrapAdmin(ctx, au, c.deps.Stdout, c.log); err != nil {
		return err
	}
	// Bound before anything starts, so a taken port fails fast.
	ln, err := net.Listen("tcp", c.cfg.HTTP.Listen)
	if err != nil {
		return fmt.Errorf("cloud: http listen: %w", err)
	}

	// Each stage has its own context so shutdown runs in order: HTTP,
	// then downlink and fleet, then the broker. g's context ends when ctx
	// does or any part fails.
	g, gctx := errgroup.WithContext(ctx)
	httpCtx, stopHTTP := context.WithCancel(context.WithoutCancel(ctx))
	mqttCtx, stopMQTT := context.WithCancel(context.WithoutCancel(ctx))
	brokerCtx, stopBroker := context.WithCancel(context.WithoutCancel(ctx))
	defer stopHTTP()
	defer stopMQTT()
	defer stopBroker()
	// abort undoes a start that failed half way: err, or else what made a
	// part fail (nil when ctx ended first).
	abort := func(err error) error {
		_ = ln.Close() // never served; err says why
		stopBroker()
		if werr := g.Wait(); err == nil {
			err = werr
		}
		return err
	}

	dlCfg := downlink.Config{
		URL: c.cfg.MQTT.URL, Username: c.cfg.MQTT.Username, Password: c.cfg.MQTT.Password,
		ClientID: c.cfg.ClientID(), CAFile: c.cfg.MQTT.CAFile,
	}
	if c.cfg.Clustered() {
		dlCfg.ShareGroup = c.cfg.Cluster.ShareGroup
	}
	mqttAddr := ""
	// The embedded broker ends the live session of a box whose
	// credentials change; an external one has its own.
	var kicker fleet.Kicker
	var undelivered func() uint64 // the embedded broker's drops
	var embedded *broker.Broker
	// Boxes log in to the embedded broker and download clips with the same
	// credentials, so one authenticator serves both.
	authn, err := fleet.NewAuthenticator(st, c.cfg.MQTT.Username)
	if err != nil {
		return abort(err)
	}
	// Presence comes from the embedded broker's sessions; an external
	// broker tells nothing of them, so there it follows traffic.
	presCfg := fleet.PresenceConfig{}
	if !c.cfg.MQTT.Embedded {
		presCfg.Timeout = c.cfg.MQTT.PresenceTimeout
	}
	pres, err := fleet.NewPresence(presCfg, fleet.PresenceDeps{Logger: c.deps.Logger, Store: st})
	if err != nil {
		return abort(err)
	}
	if c.cfg.MQTT.Embedded {
		b, err := broker.New(broker.Config{Listen: c.cfg.MQTT.Listen, CertFile: c.cfg.MQTT.CertFile, KeyFile: c.cfg.MQTT.KeyFile, Limit: c.cfg.MQTT.BoxLimit,
			Connects: c.cfg.MQTT.Connects},
			broker.Deps{Logger: c.deps.Logger, Auth: authn, Sessions: pres})
		if err != nil {
			return abort(err)
		}
		g.Go(func() error { return b.Run(brokerCtx) })
		select {
		case <-b.Ready():
		case <-gctx.Done():
			return abort(nil)
		}
		mqttAddr = b.Addr()
		kicker = b
		undelivered, embedded = b.Undelivered, b
		dlCfg.URL, dlCfg.Password = "tcp://"+dialable(mqttAddr), authn.CloudPassword()
		if c.cfg.MQTT.CertFile != "" {
			dlCfg.URL = "tls://" + dialable(mqttAddr)
			if dlCfg.TLS, err = pinnedTLS(c.cfg.MQTT.CertFile); err != nil {
				return abort(err)
			}
		}
	} else if u, err := url.Parse(c.cfg.MQTT.URL); err == nil {
		mqttAddr = u.Host
	}

	rl := &relay{}
	mediaURL := c.cfg.PublicHTTPURL(ln.Addr().String()) + media.BoxPrefix
	var shed func() uint64
	if c.cfg.Clustered() {
		shed = func() uint64 { return rl.dl.Shed() }
	}
	wt, err := c.newWatch(watchDeps{store: st, presence: pres, undeliv: undelivered, shed: shed, broker: embedded, link: c.cfg.PublicHTTPURL(ln.Addr().String()) + "/alerts",
		connected: func() bool { return rl.dl.Connected() }})
	if err != nil {
		return abort(err)
	}
	var ro *rollout.Engine // made once the downlink is; told of reports only once running
	fl, err := fleet.New(fleet.Config{Validity: c.cfg.Desired.Validity, BrokerURL: c.cfg.PublicBrokerURL(mqttAddr), MediaURL: mediaURL, CloudUser: c.cfg.MQTT.Username},
		fleet.Deps{Logger: c.deps.Logger, Store: st, Key: key, Publisher: rl, Presence: pres, Kicker: kicker, Stored: wt.stored,
			Reported: func(box string, r protocol.Reported) { ro.Reported(box, r) }})
	if err != nil {
		return abort(err)
	}
	lib, err := media.New(media.Config{Dir: filepath.Join(c.cfg.DataDir, "media"), MaxBytes: c.cfg.Media.MaxBytes},
		media.Deps{Logger: c.deps.Logger, Index: st, Plans: st, BoxAuth: boxAuth(authn)})
	if err != nil {
		return abort(err)
	}
	planner, err := plan.New(plan.Deps{Logger: c.deps.Logger, Store: st, Fleet: fl, AllowLocalCameraTargets: c.cfg.Cameras.AllowLocalTargets})
	if err != nil {
		return abort(err)
	}
	dl, err := downlink.New(dlCfg, downlink.Deps{Logger: c.deps.Logger, Handler: fl, Key: key})
	if err != nil {
		return abort(err)
	}
	rl.dl = dl
	rels, err := release.New(release.Config{Dir: filepath.Join(c.cfg.DataDir, "releases")},
		release.Deps{Logger: c.deps.Logger, Store: st, Key: key, BoxAuth: release.BoxAuth(boxAuth(authn))})
	if err != nil {
		return abort(err)
	}
	ro, err = rollout.New(rollout.Config{ReleaseURL: c.cfg.PublicHTTPURL(ln.Addr().String()) + release.BoxPrefix},
		rollout.Deps{Logger: c.deps.Logger, Store: st, Sender: dl})
	if err != nil {
		return abort(err)
	}
	speech := c.speech()
	ann, err := announce.New(c.cfg.Lists.Publish, announce.Deps{Logger: c.deps.Logger, Speech: speech, Library: lib, Plans: planner})
	if err != nil {
		return abort(err)
	}
	ls, err := lists.New(c.listsConfig(ln.Addr().String()), lists.Deps{Logger: c.deps.Logger, Store: st, Announcer: ann, Font: c.posterFont()})
	if err != nil {
		return abort(err)
	}
	proxies, err := forwarded.New(c.cfg.HTTP.TrustedProxies, c.deps.Logger)
	if err != nil {
		return abort(err)
	}
	en, err := enroll.New(enroll.Deps{Logger: c.deps.Logger, Store: st, Fleet: fl, TownshipURL: c.cfg.PublicHTTPURL(ln.Addr().String())})
	if err != nil {
		return abort(err)
	}
	jobs, err := bulk.New(bulk.Deps{Logger: c.deps.Logger, Planner: planner})
	if err != nil {
		return abort(err)
	}
	api, err := web.New(web.Deps{Logger: c.deps.Logger, Store: st, Auth: au, Fleet: fl, Downlink: counted{dl, wt.met}, Planner: planner, Media: lib, Lists: ls, Speech: speech,
		Proxies: proxies, Alerts: wt.eng, Enroll: en, Releases: rels, Rollouts: ro, Jobs: jobs})
	if err != nil {
		return abort(err)
	}
	// The console serves its pages and passes everything else to the API.
	con, err := console.New(console.Config{}, console.Deps{Logger: c.deps.Logger, Store: st, Auth: au, Next: api.Handler(),
		Lists: ls, Proxies: proxies})
	if err != nil {
		return abort(err)
	}
	// The jobs that act on their own: with replicas, one at a time runs
	// them, the one holding the store's lease.
	rep := replicationOf(st, c.cfg, c.deps.Logger)
	periodic, err := lease.New(lease.Config{Name: "periodic-jobs"}, lease.Deps{Logger: c.deps.Logger, Locker: rep.lock},
		fl.Run, ls.Run, wt.eng.Run, ro.Run)
	if err != nil {
		return abort(err)
	}
	mux := http.NewServeMux()
	mux.Handle(media.BoxPrefix, lib.BoxHandler())
	mux.Handle(release.BoxPrefix, rels.BoxHandler())
	if c.cfg.Metrics.Token != "" {
		mux.Handle("GET /metrics", wt.met.Handler(c.cfg.Metrics.Token))
	}
	mux.Handle("/", con.Handler())
	srv := &http.Server{
		Handler:           wt.met.HTTP(mux),
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    16 << 10,
		BaseContext:       func(net.Listener) context.Context { return httpCtx },
		ErrorLog:          slog.NewLogLogger(c.log.Handler(), slog.LevelWarn),
	}
	srv.RegisterOnShutdown(con.Shutdown) // open dashboards would hold the drain

	dlDone := make(chan struct{})
	g.Go(func() error { defer close(dlDone); return dl.Run(mqttCtx) })
	g.Go(func() error { return pres.Run(mqttCtx) })
	g.Go(func() error { return periodic.Run(mqttCtx) })
	g.Go(func() error { return jobs.Run(mqttCtx) })
	g.Go(func() error { return api.Run(httpCtx) })
	if rep.watch != nil {
		// Another replica's change reaches this one's dashboards at once.
		g.Go(func() error { return rep.watch(httpCtx, func() { api.FleetChanged(); con.FleetChanged() }) })
	}
	g.Go(func() error { return con.Run(httpCtx) })
	g.Go(func() error {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("cloud: http: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		c.log.Info("stopping")
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), drainTimeout)
		defer cancel()
		err := srv.Shutdown(dctx)
		stopHTTP() // commands still waiting give up
		if err != nil {
			_ = srv.Close() // the drain timed out; cut what is left
			c.log.Warn("http requests cut at shutdown", "err", err)
		}
		stopMQTT()
		<-dlDone
		stopBroker()
		return nil
	})

	httpAddr := ln.Addr().String()
	if err := writeListen(c.cfg.DataDir, listen, httpAddr, mqttAddr); err != nil {
		stopHTTP()
		_ = srv.Close() // err is the failure to report
		stopMQTT()
		stopBroker()
		_ = g.Wait() // err is the failure to report
		return err
	}
	c.log.Info("ready", "replica", c.cfg.Cluster.Replica, "http", httpAddr, "mqtt", mqttAddr, "embedded_broker", c.cfg.MQTT.Embedded,
		"public_broker_url", c.cfg.PublicBrokerURL(mqttAddr), "media_url", mediaURL, "version", c.deps.Version)
	g.Go(func() error { return serviceManager(gctx, c.log, c.deps.Version, st.Ping) })
	err = g.Wait()
	c.log.Info("stopped", "err", err)
	return err
}

// listsConfig is the lists' part of the configuration; bound is the HTTP
// address, for the group chats' picture links.
func (c *Cloud) listsConfig(bound string) lists.Config {
	l := c.cfg.Lists
	r := lists.Rounds{Default: lists.Round(l.Rounds.Default), Categories: map[string]lists.Round{}}
	for cat, x := range l.Rounds.Categories {
		r.Categories[cat] = lists.Round(x)
	}
	return lists.Config{
		Approvals: l.Approvals, Template: l.Template, NoticeDays: l.NoticeDays, Rounds: r,
		Privacy: lists.Privacy{MaskNames: l.Privacy.MaskNames, ReasonRunes: l.Privacy.PublicReasonChars, RetentionMonths: l.Privacy.RetentionMonths},
		Chats: lists.ChatConfig{
			Backoff:   notify.Backoff{Initial: l.Chats.FirstRetry, Max: l.Chats.MaxRetry, Attempts: l.Chats.Attempts},
			PublicURL: c.cfg.PublicHTTPURL(bound), ImageLife: time.Duration(l.Chats.ImageDays) * 24 * time.Hour,
		},
	}
}

// posterFont is the font the poster picture is drawn with. One that
// cannot be read does not stop the service: lists are posted to group
// chats as text alone, and the poster picture answers poster.no_font.
func (c *Cloud) posterFont() *poster.Font {
	f, err := poster.LoadFont(c.cfg.Lists.Chats.Font)
	if err != nil {
		c.deps.Logger.Error("poster font unavailable; group chats get the list as text only (install fonts-noto-cjk)", "err", err)
		return nil
	}
	return f
}

// boxAuth admits a box, and only a box, to media downloads.
func boxAuth(a *fleet.Authenticator) media.BoxAuth {
	return func(ctx context.Context, user, password string) (string, bool) {
		id, ok := a.Authenticate(ctx, user, []byte(password))
		return id.Box, ok && id.Box != ""
	}
}

// dialable turns a wildcard listen address into one the service's own
// client can dial.
func dialable(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// pinnedTLS is the TLS config of the service's own client to its embedded
// broker: it dials loopback, where the certificate's names cannot match,
// so instead of name checks it accepts exactly the certificate the broker
// was given.
func pinnedTLS(certFile string) (*tls.Config, error) {
	b, err := os.ReadFile(certFile)
	if err != nil {
		return nil, fmt.Errorf("cloud: broker certificate: %w", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("cloud: broker certificate %s: no PEM certificate", certFile)
	}
	if _, err := x509.ParseCertificate(blk.Bytes); err != nil {
		return nil, fmt.Errorf("cloud: broker certificate %s: %w", certFile, err)
	}
	leaf := blk.Bytes
	return &tls.Config{
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: true, // replaced by the pin below
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			if len(raw) == 0 || !bytes.Equal(raw[0], leaf) {
				return errors.New("cloud: the broker did not present its configured certificate")
			}
			return nil
		},
	}, nil
}

// listenFile holds the addresses actually bound, for tools and tests
// that start the service on port 0.
const listenFile = "listen.json"

// listenFile is this process's listen file: listen.json, or
// listen.<replica>.json for a replica, since replicas share data_dir.
func (c *Cloud) listenFile() string {
	if c.cfg.Clustered() {
		return "listen." + c.cfg.Cluster.Replica + ".json"
	}
	return listenFile
}

func removeListen(dir, listenFile string) error {
	if err := os.Remove(filepath.Join(dir, listenFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("cloud: remove %s: %w", listenFile, err)
	}
	return nil
}

func writeListen(dir, listenFile, httpAddr, mqttAddr string) error {
	b, err := json.Marshal(map[string]string{"http": httpAddr, "mqtt": mqttAddr})
	if err != nil {
		return fmt.Errorf("cloud: write %s: %w", listenFile, err)
	}
	// Renamed into place, so a reader never sees half a file.
	tmp := filepath.Join(dir, listenFile+".tmp")
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("cloud: write %s: %w", listenFile, err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, listenFile)); err != nil {
		return fmt.Errorf("cloud: write %s: %w", listenFile, err)
	}
	return nil
}

// speech is the configured TTS engine. One that cannot start (espeak-ng
// not installed, say) does not stop the service: broadcasts of uploaded
// audio still work, and whatever needs speech fails with the reason.
func (c *Cloud) speech() tts.Engine {
	e, err := tts.New(c.cfg.TTS)
	if err != nil {
		c.deps.Logger.Error("text to speech unavailable; list announcements and typed announcements will fail", "err", err)
		return noSpeech{err}
	}
	return e
}

type noSpeech struct{ err error }

func (n noSpeech) Synthesize(context.Context, string) ([]byte, error) {
	return nil, fmt.Errorf("text to speech unavailable: %w", n.err)
}

func (noSpeech) Name() string { return "none" }
