// Package enroll is zero-touch enrollment on the box: with a claim code an
// installer types (dalaba-edge enroll) or leaves on the boot partition (the
// first boot of dalaba-edge run), it asks the township for the box's
// identity, opens the sealed answer with the code (protocol/claim: a
// changed answer, or one for another code, does not open) and writes the
// box's config atomically, readable by its owner only. A refusal, or any
// failure, writes nothing.
//
// It knows the township only as an HTTPS endpoint and protocol/claim; it
// knows nothing of the daemon it prepares.
package enroll

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/dalaba/dalaba/edge/config"
	"github.com/dalaba/dalaba/internal/tlsclient"
	"github.com/dalaba/dalaba/protocol/claim"
)

// Path is where enrollment asks, under the township's URL.
const Path = "/api/v1/enroll"

// DefaultTimeout bounds one enrollment when Options.Timeout is zero.
const DefaultTimeout = time.Minute

// Options say where to enroll and what to write.
type Options struct {
	// Township is the township service's base URL: https://, or http://
	// to a loopback address (a test, or a township on the same machine).
	Township string
	Code     string // as typed: any case, dash or not
	// Village, when set, is the box id the box expects; a code for another
	// village is refused.
	Village string
	// ConfigPath is the file written. A config there that has an identity
	// (box_id) is kept and enrollment refused (ErrExists); one without
	// (the package's example) is replaced.
	ConfigPath string
	// DataDir is written as data_dir ("" = the township's default).
	DataDir string
	// CAFile, when set, is trusted for the township's HTTPS instead of the
	// system's roots, and written as broker.ca_file for a TLS broker.
	CAFile  string
	Timeout time.Duration
	// Base, when set, is a config without identity whose other settings
	// (and comments) the written config keeps: the one ConfigPath
	// replaces, or the one a first boot started with. "" = ConfigPath if
	// it exists.
	Base string
}

// ErrExists: the config file is there already with a box id; the box is
// enrolled (or was set up by hand). Nothing was written.
var ErrExists = errors.New("enroll: the box already has a config")

// RefusedError is the township's refusal, by its API code.
type RefusedError struct {
	Code    string // claim.used, claim.expired, ...
	Message string // the township's English message
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("enroll: the township refused (%s): %s", e.Code, e.Message)
}

// Sentence is what the person at the box reads: what happened and what to
// do, Chinese first.
func (e *RefusedError) Sentence() string {
	switch e.Code {
	case "claim.used":
		return "认领码已经用过，请向乡镇管理员要一个新的。 The claim code was used already; ask the township for a new one."
	case "claim.expired":
		return "认领码已过期，请向乡镇管理员要一个新的。 The claim code has expired; ask the township for a new one."
	case "claim.revoked":
		return "认领码已被作废，请向乡镇管理员要一个新的。 The claim code was revoked; ask the township for a new one."
	case "claim.unknown":
		return "没有这个认领码，请核对后重试。 There is no such claim code; check it and try again."
	case "claim.wrong_village":
		return "这个认领码是给别的村的。 This claim code is for another village."
	case "claim.stale":
		return "乡镇服务器地址已变，这个认领码不能用了，请要一个新的。 The township's addresses changed since the code was made; ask for a new one."
	case "claim.slow_down":
		return "错误次数过多，请稍后再试。 Too many wrong codes from here; wait and try again."
	case "box.retired":
		return "这个村的广播盒已停用，请联系乡镇管理员。 This village's box was retired; ask the township."
	}
	return "乡镇服务器拒绝了认领：" + e.Message + " The township refused: " + e.Message
}

// Result is what was enrolled.
type Result struct {
	BoxID, Name string
	ConfigPath  string
}

// Transient reports whether err may pass if tried again later (the network
// or the township is not there yet); a refusal or a bad answer will not.
func Transient(err error) bool {
	if _, ok := errors.AsType[*RefusedError](err); ok {
		return false
	}
	var ne net.Error
	if se, ok := errors.AsType[*statusError](err); ok {
		return se.status >= 500 // a proxy before a township that is not up yet
	}
	return errors.As(err, &ne) || errors.Is(err, context.DeadlineExceeded)
}

// statusError is an answer that is neither the sealed answer nor a
// refusal (a proxy's error page, a 5xx).
type statusError struct{ status int }

func (e *statusError) Error() string {
	return fmt.Sprintf("enroll: the township answered HTTP %d without a usable answer", e.status)
}

// Enroll enrolls the box as o says and writes its config.
func Enroll(ctx context.Context, o Options) (Result, error) {
	code, err := claim.Parse(o.Code)
	if err != nil {
		return Result{}, fmt.Errorf("enroll: %w", err)
	}
	base, err := townshipURL(o.Township)
	if err != nil {
		return Result{}, err
	}
	if o.ConfigPath == "" {
		return Result{}, errors.New("enroll: no config path")
	}
	if err := replaceable(o.ConfigPath); err != nil {
		return Result{}, err
	}
	tc, err := tlsclient.Config(o.CAFile)
	if err != nil {
		return Result{}, fmt.Errorf("enroll: %w", err)
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()

	keys := claim.Derive(code)
	body, err := json.Marshal(claim.NewRequest(keys, o.Village))
	if err != nil {
		return Result{}, fmt.Errorf("enroll: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+Path, bytes.NewReader(body))
	if err != nil {
		return Result{}, fmt.Errorf("enroll: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: tc, Proxy: http.ProxyFromEnvironment}}
	defer client.CloseIdleConnections()
	resp, err := client.Do(req)
	if err != nil {
		return Result{}, fmt.Errorf("enroll: ask %s: %w", base, err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, claim.MaxSealed+1))
	if err != nil {
		return Result{}, fmt.Errorf("enroll: read the answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var p struct {
			Error string `json:"error"`
			Code  string `json:"code"`
		}
		if json.Unmarshal(answer, &p) == nil && p.Code != "" && resp.StatusCode < 500 {
			return Result{}, &RefusedError{Code: p.Code, Message: p.Error}
		}
		return Result{}, &statusError{resp.StatusCode}
	}
	a, err := claim.Open(keys.Seal, answer)
	if err != nil {
		return Result{}, fmt.Errorf("enroll: %w", err)
	}
	if o.Village != "" && a.BoxID != o.Village {
		return Result{}, fmt.Errorf("enroll: %w: the answer is for %s", claim.ErrSealed, a.BoxID)
	}
	basePath := o.Base
	if basePath == "" {
		basePath = o.ConfigPath
	}
	var baseText []byte
	if b, err := os.ReadFile(basePath); err == nil {
		baseText = b
	} else if !errors.Is(err, os.ErrNotExist) {
		return Result{}, fmt.Errorf("enroll: %w", err)
	}
	text, err := render(a, o, baseText)
	if err != nil {
		return Result{}, err
	}
	if err := writeAtomic(o.ConfigPath, text); err != nil {
		return Result{}, err
	}
	return Result{BoxID: a.BoxID, Name: a.Name, ConfigPath: o.ConfigPath}, nil
}

// townshipURL checks raw and returns it without a trailing slash.
func townshipURL(raw string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("enroll: township %q: want https://host[:port]", raw)
	}
	switch u.Scheme {
	case "https":
	case "http":
		ip := net.ParseIP(u.Hostname())
		if u.Hostname() != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return "", fmt.Errorf("enroll: township %q: use https:// (plain http only to this machine)", raw)
		}
	default:
		return "", fmt.Errorf("enroll: township %q: want https://host[:port]", raw)
	}
	return strings.TrimRight(u.String(), "/"), nil
}

// render is the box's config: what the answer holds, in the keys of
// configs/edge.example.yaml, set in base (a config without identity) when
// it has any; the other keys keep base's values, or their defaults.
func render(a claim.Answer, o Options, base []byte) ([]byte, error) {
	type brokerCfg = brokerValues
	type mediaCfg struct {
		URL string `yaml:"url"`
	}
	b := brokerCfg{URL: a.BrokerURL, Username: a.Username, Password: a.Password}
	if o.CAFile != "" && !strings.HasPrefix(a.BrokerURL, "tcp://") {
		abs, err := filepath.Abs(o.CAFile)
		if err != nil {
			return nil, fmt.Errorf("enroll: CA file: %w", err)
		}
		b.CAFile = abs
	}
	var media *mediaCfg
	if a.MediaURL != "" {
		media = &mediaCfg{URL: a.MediaURL}
	}
	dataDir := o.DataDir
	if dataDir == "" {
		dataDir = config.Default().DataDir
	}
	if len(bytes.TrimSpace(base)) > 0 {
		return merge(base, a, b, dataDir, media != nil)
	}
	var out bytes.Buffer
	fmt.Fprintf(&out, "# dalaba-edge config for box %s, enrolled with a claim code.\n", a.BoxID)
	fmt.Fprintf(&out, "# Village: %s\n", strings.Map(func(r rune) rune {
		if r < ' ' {
			return -1
		}
		return r
	}, a.Name))
	out.WriteString("# It holds the box's MQTT password. configs/edge.example.yaml lists the other keys.\n")
	enc := yaml.NewEncoder(&out)
	enc.SetIndent(2)
	err := enc.Encode(struct {
		BoxID       string    `yaml:"box_id"`
		TownshipKey string    `yaml:"township_key"`
		Broker      brokerCfg `yaml:"broker"`
		DataDir     string    `yaml:"data_dir"`
		Media       *mediaCfg `yaml:"media,omitempty"`
	}{a.BoxID, a.TownshipKey, b, dataDir, media})
	if err == nil {
		err = enc.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("enroll: render the config: %w", err)
	}
	return out.Bytes(), nil
}

// HasIdentity reports whether the config at path names a box. A missing
// file has none; an unreadable one is an error.
func HasIdentity(path string) (bool, error) {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	cfg, err := config.Load(path)
	if err != nil {
		return false, err
	}
	return cfg.BoxID != "", nil
}

// replaceable refuses a config with an identity.
func replaceable(path string) error {
	has, err := HasIdentity(path)
	if err != nil {
		return fmt.Errorf("enroll: %w", err)
	}
	if has {
		return fmt.Errorf("%w: %s names a box already (remove it to enroll again)", ErrExists, path)
	}
	return nil
}

// writeAtomic writes text to path: a temporary file beside it, mode 0600
// (or, replacing a config without identity, that file's owner and mode,
// which the package set so that the daemon can read it), synced, checked
// to be a valid config, renamed over path, and the directory synced, so a
// power cut leaves either the old file or the whole new one.
func writeAtomic(path string, text []byte) (err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("enroll: config directory: %w", err)
	}
	f, err := os.CreateTemp(dir, ".enroll-*.yaml")
	if err != nil {
		return fmt.Errorf("enroll: write the config: %w", err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = os.Remove(tmp) // nothing is left behind on failure
		}
	}()
	mode := os.FileMode(0o600)
	old, statErr := os.Stat(path)
	if statErr == nil {
		mode = old.Mode().Perm() &^ 0o137 // never more than owner rw, group r
		if uid, gid, ok := owner(old); ok {
			_ = f.Chown(uid, gid) // only root may; the mode still holds
		}
	}
	if err = f.Chmod(mode); err == nil {
		if _, err = f.Write(text); err == nil {
			err = f.Sync()
		}
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("enroll: write the config: %w", err)
	}
	cfg, err := config.Load(tmp)
	if err == nil {
		err = cfg.Validate()
	}
	if err != nil {
		return fmt.Errorf("enroll: the config made is not valid: %w", err)
	}
	if err = replaceable(path); err != nil {
		return err
	}
	if err = os.Rename(tmp, path); err != nil {
		return fmt.Errorf("enroll: write the config: %w", err)
	}
	if d, derr := os.Open(dir); derr == nil {
		_ = d.Sync() // best effort: some filesystems cannot sync a directory
		d.Close()
	}
	return nil
}

// ClaimFile is what an installer leaves on the boot partition for the
// first boot: YAML with township, code, and optionally village and
// ca_file.
type ClaimFile struct {
	Township string `yaml:"township"`
	Code     string `yaml:"code"`
	Village  string `yaml:"village"`
	CAFile   string `yaml:"ca_file"`
}

// ReadClaimFile reads and checks path.
func ReadClaimFile(path string) (ClaimFile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return ClaimFile{}, fmt.Errorf("enroll: claim file: %w", err)
	}
	var c ClaimFile
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return ClaimFile{}, fmt.Errorf("enroll: claim file %s: %w", path, err)
	}
	if c.Township == "" || c.Code == "" {
		return ClaimFile{}, fmt.Errorf("enroll: claim file %s: township and code are required", path)
	}
	return c, nil
}

// brokerValues are the broker section the answer fills in.
type brokerValues struct {
	URL      string `yaml:"url"`
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	CAFile   string `yaml:"ca_file,omitempty"`
}

// merge sets the answer's keys in base's YAML, keeping its other keys and
// its comments.
func merge(base []byte, a claim.Answer, b brokerValues, dataDir string, media bool) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(base, &doc); err != nil {
		return nil, fmt.Errorf("enroll: the config without identity: %w", err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, errors.New("enroll: the config without identity is not a YAML mapping")
	}
	root := doc.Content[0]
	set(root, a.BoxID, "box_id")
	set(root, a.TownshipKey, "township_key")
	set(root, b.URL, "broker", "url")
	set(root, b.Username, "broker", "username")
	set(root, b.Password, "broker", "password")
	if b.CAFile != "" {
		set(root, b.CAFile, "broker", "ca_file")
	}
	set(root, dataDir, "data_dir")
	if media {
		set(root, a.MediaURL, "media", "url")
	}
	var out bytes.Buffer
	enc := yaml.NewEncoder(&out)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, fmt.Errorf("enroll: render the config: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("enroll: render the config: %w", err)
	}
	return out.Bytes(), nil
}

// set puts value at path in mapping m, making what is missing.
func set(m *yaml.Node, value string, path ...string) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value != path[0] {
			continue
		}
		v := m.Content[i+1]
		if len(path) == 1 {
			v.Kind, v.Tag, v.Value, v.Style, v.Content = yaml.ScalarNode, "!!str", value, 0, nil
			return
		}
		if v.Kind != yaml.MappingNode {
			v.Kind, v.Tag, v.Value, v.Style, v.Content = yaml.MappingNode, "!!map", "", 0, nil
		}
		set(v, value, path[1:]...)
		return
	}
	k := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: path[0]}
	if len(path) == 1 {
		m.Content = append(m.Content, k, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: value})
		return
	}
	v := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	set(v, value, path[1:]...)
	m.Content = append(m.Content, k, v)
}
