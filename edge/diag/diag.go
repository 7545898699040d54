package diag

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/dalaba/dalaba/edge/command"
	"github.com/dalaba/dalaba/edge/logring"
	"github.com/dalaba/dalaba/protocol"
)

// Config is what the probes reach and how long each may take.
type Config struct {
	// ProbeTimeout bounds each probe of the connectivity check.
	ProbeTimeout time.Duration
	// BrokerURL is the box's MQTT broker (tcp://, ssl://, tls://host:port).
	BrokerURL string
	// TownshipURL is the township's media address (edge.yaml media.url);
	// empty: the township's HTTP service is not probed.
	TownshipURL string
}

// Deps are what diagnostics read and do.
type Deps struct {
	Logger *slog.Logger
	// Ring holds the box's latest log lines.
	Ring *logring.Ring
	// Config renders the effective configuration without its secrets,
	// and names the keys taken out (config.Config.Redacted).
	Config func() (string, []string, error)
	// Speakers reports each speaker's health as its driver last saw it;
	// nil: none.
	Speakers func() []protocol.SpeakerHealth
	// Restart is told that the restart command id was carried out: the
	// assembly stops the box once that command's answer is handed on.
	Restart func(commandID, reason string)
	Now     func() time.Time // nil = time.Now
}

// Diag answers the diagnostics commands. Make it with New.
type Diag struct {
	cfg Config
	d   Deps
	log *slog.Logger

	mu      sync.Mutex
	speaker []protocol.Speaker
	cameras []protocol.Camera
	local   bool // the township allows cameras on local targets
}

// New checks cfg and deps; it starts nothing.
func New(cfg Config, deps Deps) (*Diag, error) {
	var errs []error
	if cfg.ProbeTimeout <= 0 {
		errs = append(errs, fmt.Errorf("probe timeout %s: must be positive", cfg.ProbeTimeout))
	}
	if deps.Ring == nil || deps.Config == nil || deps.Restart == nil {
		errs = append(errs, errors.New("Deps.Ring, Config and Restart are required"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("diag: %w", err)
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if deps.Speakers == nil {
		deps.Speakers = func() []protocol.SpeakerHealth { return nil }
	}
	return &Diag{cfg: cfg, d: deps, log: deps.Logger.With("component", "diag")}, nil
}

// SetSpec takes the speakers and cameras of an applied desired state: the
// check probes those.
func (d *Diag) SetSpec(s protocol.Spec) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.speaker, d.cameras, d.local = nil, nil, false
	if s.Broadcast != nil {
		d.speaker = append(d.speaker, s.Broadcast.Speakers...)
	}
	if s.Cameras != nil {
		d.cameras = append(d.cameras, s.Cameras.Cameras...)
		d.local = s.Cameras.AllowLocalTargets
	}
}

// Register makes the runner answer the diagnostics commands: the log, the
// configuration and the restart on the control lane (memory only), the
// check, which waits on the network, on the slow lane.
func (d *Diag) Register(r *command.Runner) {
	command.Register(r, protocol.CmdDiagLogs, command.Control, d.logs)
	command.Register(r, protocol.CmdDiagConfig, command.Control, d.config)
	command.Register(r, protocol.CmdDiagCheck, command.Slow, func(ctx context.Context, _ protocol.Command, _ struct{}) (any, error) {
		return d.Check(ctx), nil
	})
	command.Register(r, protocol.CmdDiagRestart, command.Control, d.restart)
}

// logs answers the latest lines, as many as fit MaxDiagData once encoded.
func (d *Diag) logs(_ context.Context, _ protocol.Command, a protocol.DiagLogsArgs) (any, error) {
	n := a.Lines
	if n == 0 {
		n = protocol.DefaultDiagLines
	}
	level := slog.LevelDebug
	if a.Level != "" {
		_ = level.UnmarshalText([]byte(a.Level)) // Validate checked it
	}
	// Text lines quote their values, and JSON escapes the quotes: start
	// at three quarters of the bound and halve until the encoding fits.
	for budget := protocol.MaxDiagData * 3 / 4; ; budget /= 2 {
		s := d.d.Ring.Lines(level, n, budget)
		out := protocol.DiagLogs{Lines: s.Lines, Truncated: s.Truncated, Lost: s.Lost, Since: s.Since}
		if out.Lines == nil {
			out.Lines = []string{}
		}
		b, err := json.Marshal(out)
		if err != nil {
			return nil, fmt.Errorf("diag: encode log lines: %w", err)
		}
		if len(b) <= protocol.MaxDiagData || budget < logring.MaxLine {
			return json.RawMessage(b), nil
		}
	}
}

func (d *Diag) config(context.Context, protocol.Command, struct{}) (any, error) {
	y, keys, err := d.d.Config()
	if err != nil {
		return nil, err
	}
	if len(y) > protocol.MaxDiagData {
		return nil, fmt.Errorf("diag: the configuration is %d bytes, over %d", len(y), protocol.MaxDiagData)
	}
	return protocol.DiagConfig{YAML: y, Redacted: keys}, nil
}

func (d *Diag) restart(ctx context.Context, c protocol.Command, a protocol.DiagRestartArgs) (any, error) {
	if err := command.Commit(ctx); err != nil {
		return nil, err
	}
	d.log.Warn("restarting, as the township asked", "command_id", c.ID, "reason", a.Reason)
	d.d.Restart(c.ID, a.Reason)
	return protocol.DiagRestart{Restarting: true}, nil
}
