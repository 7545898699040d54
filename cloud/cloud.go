// Package cloud assembles the township service: store, signing key, users,
// the embedded broker (or none, with an external one), the MQTT downlink,
// the fleet and the HTTP API, started in order and stopped in reverse.
package cloud

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/dalaba/dalaba/cloud/auth"
	"github.com/dalaba/dalaba/cloud/broker"
	"github.com/dalaba/dalaba/cloud/config"
	"github.com/dalaba/dalaba/cloud/downlink"
	"github.com/dalaba/dalaba/cloud/fleet"
	"github.com/dalaba/dalaba/cloud/store"
	"github.com/dalaba/dalaba/cloud/store/boltstore"
	"github.com/dalaba/dalaba/cloud/web"
	"github.com/dalaba/dalaba/protocol"
)

// Deps are what the service is given by main.
type Deps struct {
	Logger  *slog.Logger
	Version string
	// Stdout receives the one-time admin password on first start.
	Stdout io.Writer
}

// Cloud is the township service.
type Cloud struct {
	cfg  config.Config
	deps Deps
	log  *slog.Logger
}

// New checks the configuration; nothing starts before Run.
func New(cfg config.Config, deps Deps) (*Cloud, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Stdout == nil {
		deps.Stdout = io.Discard
	}
	return &Cloud{cfg: cfg, deps: deps, log: deps.Logger.With("component", "cloud")}, nil
}

// Files in the data directory.
const (
	storeFile  = "cloud.db"
	keyFile    = "township.key"
	listenFile = "listen.json"
)

func openStore(cfg config.Config) (*boltstore.Store, error) {
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("cloud: data dir: %w", err)
	}
	return boltstore.Open(filepath.Join(cfg.DataDir, storeFile), boltstore.Options{})
}

// loadKey reads the township signing key, creating it on first use.
func loadKey(dataDir string) (ed25519.PrivateKey, error) {
	path := filepath.Join(dataDir, keyFile)
	b, err := os.ReadFile(path)
	if err == nil {
		k, err := protocol.ParsePrivateKey(strings.TrimSpace(string(b)))
		if err != nil {
			return nil, fmt.Errorf("cloud: %s: %w", path, err)
		}
		return k, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("cloud: read key: %w", err)
	}
	k, err := protocol.GenerateKey()
	if err != nil {
		return nil, err
	}
	// Written to a temporary name and renamed, so a crash never leaves a
	// half key that would lock every box out.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(protocol.EncodePrivateKey(k)+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("cloud: write key: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return nil, fmt.Errorf("cloud: write key: %w", err)
	}
	return k, nil
}

// Run serves until ctx ends, then shuts down in reverse order.
func (c *Cloud) Run(ctx context.Context) error {
	st, err := openStore(c.cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	key, err := loadKey(c.cfg.DataDir)
	if err != nil {
		return err
	}
	au, err := auth.New(auth.Deps{Logger: c.deps.Logger, Store: st})
	if err != nil {
		return err
	}
	created, pw, err := au.Bootstrap(ctx, os.Getenv("DALABA_ADMIN_PASSWORD"))
	if err != nil {
		return err
	}
	if created && os.Getenv("DALABA_ADMIN_PASSWORD") == "" {
		fmt.Fprintf(c.deps.Stdout, "首次启动 first start: admin password (shown once) 管理员密码: %s\n", pw)
	}

	g, gctx := errgroup.WithContext(ctx)
	brokerURL, mqttAddr := c.cfg.MQTT.URL, ""
	user, pass := c.cfg.MQTT.Username, c.cfg.MQTT.Password
	if c.cfg.MQTT.Embedded {
		pass = randomPassword()
		b, err := broker.New(broker.Config{Listen: c.cfg.MQTT.Listen, CertFile: c.cfg.MQTT.CertFile, KeyFile: c.cfg.MQTT.KeyFile},
			broker.Deps{Logger: c.deps.Logger, Auth: fleet.Authenticator{Store: st, CloudUser: user, CloudPassword: pass}})
		if err != nil {
			return err
		}
		g.Go(func() error { return b.Run(gctx) })
		select {
		case <-b.Ready():
		case <-gctx.Done():
			return g.Wait()
		}
		mqttAddr = b.Addr()
		scheme := "tcp"
		if c.cfg.MQTT.CertFile != "" {
			scheme = "tls"
		}
		brokerURL = scheme + "://" + loopbackFor(mqttAddr)
	}

	var fl *fleet.Fleet
	dl, err := downlink.New(downlink.Config{URL: brokerURL, Username: user, Password: pass, ClientID: c.cfg.MQTT.ClientID},
		downlink.Deps{
			Logger:    c.deps.Logger,
			Handle:    func(box string, k protocol.Kind, p []byte) { fl.Handle(box, k, p) },
			OnConnect: func(ctx context.Context) { fl.RepublishAll(ctx) },
		})
	if err != nil {
		return err
	}
	fl, err = fleet.New(fleet.Config{Validity: c.cfg.Desired.Validity, BrokerURL: c.cfg.PublicBrokerURL(mqttAddr)},
		fleet.Deps{Logger: c.deps.Logger, Store: st, Key: key, Publisher: dl})
	if err != nil {
		return err
	}
	api, err := web.New(web.Deps{Logger: c.deps.Logger, Store: st, Auth: au, Fleet: fl})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", c.cfg.HTTP.Listen)
	if err != nil {
		return fmt.Errorf("cloud: http listen: %w", err)
	}
	srv := &http.Server{Handler: api.Handler(), ReadHeaderTimeout: 10 * time.Second}

	g.Go(func() error { return dl.Run(gctx) })
	g.Go(func() error { return fl.Run(gctx) })
	g.Go(func() error {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("cloud: http: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return srv.Shutdown(sctx)
	})
	if err := writeListen(c.cfg.DataDir, ln.Addr().String(), mqttAddr); err != nil {
		return err
	}
	c.log.Info("ready", "http", ln.Addr().String(), "mqtt", mqttAddr, "broker_url", brokerURL, "version", c.deps.Version)
	err = g.Wait()
	c.log.Info("stopped")
	return err
}

// loopbackFor turns a wildcard listen address into one the service's own
// client can dial.
func loopbackFor(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

func writeListen(dir, httpAddr, mqttAddr string) error {
	b, _ := json.Marshal(map[string]string{"http": httpAddr, "mqtt": mqttAddr}) // strings only: cannot fail
	tmp := filepath.Join(dir, listenFile+".tmp")
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("cloud: write %s: %w", listenFile, err)
	}
	return os.Rename(tmp, filepath.Join(dir, listenFile))
}

func randomPassword() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on Linux
	return base64.RawURLEncoding.EncodeToString(b)
}

// AddBox registers a box with the service stopped (the store is locked
// while it runs: then use POST /api/v1/boxes) and returns its edge config.
// brokerURL "" = the configured public broker URL.
func AddBox(ctx context.Context, cfg config.Config, id, name, brokerURL string) (string, error) {
	st, err := openStore(cfg)
	if errors.Is(err, boltstore.ErrInUse) {
		return "", fmt.Errorf("%w: the township service is running; add the box with POST /api/v1/boxes instead", err)
	}
	if err != nil {
		return "", err
	}
	defer st.Close()
	key, err := loadKey(cfg.DataDir)
	if err != nil {
		return "", err
	}
	b, secret, _, err := fleet.Provision(ctx, st, key, cfg.Desired.Validity, time.Now(), id, name)
	if err != nil {
		return "", err
	}
	if brokerURL == "" {
		brokerURL = cfg.PublicBrokerURL("")
	}
	return fleet.EdgeConfig(b, secret, brokerURL, key.Public().(ed25519.PublicKey))
}

// AddUser creates a user with the service stopped; an empty password is
// generated and returned.
func AddUser(ctx context.Context, cfg config.Config, name, role, password string) (string, error) {
	st, err := openStore(cfg)
	if err != nil {
		return "", err
	}
	defer st.Close()
	au, err := auth.New(auth.Deps{Store: st})
	if err != nil {
		return "", err
	}
	if password == "" {
		password = randomPassword()[:16]
	}
	return password, au.AddUser(ctx, name, password, store.Role(role))
}
