package protocol

import (
	"errors"
	"fmt"
	"time"
)

// Remote diagnostics: support reads a box's recent log, its effective
// configuration with the secrets taken out, runs a connectivity check and
// restarts the daemon, each as a signed command like any other. Every
// answer fits a command result: the box trims what it sends to
// MaxDiagData bytes of JSON.
const (
	// CmdDiagLogs asks for the box's latest log lines (DiagLogsArgs); the
	// result is DiagLogs.
	CmdDiagLogs = "diag.logs"
	// CmdDiagConfig asks for the effective configuration (no arguments);
	// the result is DiagConfig.
	CmdDiagConfig = "diag.config"
	// CmdDiagCheck runs the connectivity check (no arguments); the result
	// is DiagCheck.
	CmdDiagCheck = "diag.check"
	// CmdDiagRestart stops the daemon cleanly and exits with a failure
	// status, which its service manager answers by starting it again
	// (DiagRestartArgs); the result, DiagRestart, is sent before it stops.
	CmdDiagRestart = "diag.restart"
)

// MaxDiagData bounds the JSON a diagnostics result carries, leaving room
// in a command result (KindCmdResult.MaxPayload) for its envelope and the
// escaping JSON adds to it.
const MaxDiagData = 48 << 10

// Bounds of DiagLogsArgs.
const (
	DefaultDiagLines = 200
	MaxDiagLines     = 2000
)

// DiagLogsArgs selects log lines: the latest Lines (0: DefaultDiagLines)
// at Level or above ("": every level the box keeps).
type DiagLogsArgs struct {
	Lines int    `json:"lines,omitempty"`
	Level string `json:"level,omitempty"` // debug, info, warn or error
}

// Validate checks the arguments on their own.
func (a DiagLogsArgs) Validate() error {
	var errs []error
	if a.Lines < 0 || a.Lines > MaxDiagLines {
		errs = append(errs, fmt.Errorf("lines %d: want 1-%d, or 0 for %d", a.Lines, MaxDiagLines, DefaultDiagLines))
	}
	switch a.Level {
	case "", "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("level %q: want debug, info, warn or error", a.Level))
	}
	return errors.Join(errs...)
}

// DiagLogs is the box's latest log lines, oldest first, each as the box's
// own text log writes it (time=… level=… msg=… key=value…).
type DiagLogs struct {
	Lines []string `json:"lines"`
	// Truncated: more lines matched than fit the answer (MaxDiagData) or
	// were asked for; the oldest were left out.
	Truncated bool `json:"truncated,omitempty"`
	// Lost counts the lines the box's ring let go since it started, the
	// oldest first, to stay within its bounds.
	Lost uint64 `json:"lost"`
	// Since is the time of the oldest line the ring still holds.
	Since time.Time `json:"since,omitzero"`
}

// DiagConfig is the box's effective configuration, its file with the
// defaults, flags and environment applied, in YAML, every secret replaced
// by RedactedValue.
type DiagConfig struct {
	YAML string `json:"yaml"`
	// Redacted names the keys whose values were taken out.
	Redacted []string `json:"redacted,omitempty"`
}

// RedactedValue stands in for a secret in DiagConfig.
const RedactedValue = "<redacted>"

// DiagCheck is the connectivity check's findings, one probe per target.
type DiagCheck struct {
	Probes []DiagProbe `json:"probes"`
	At     time.Time   `json:"at"`
}

// Targets of a DiagProbe.
const (
	ProbeBroker   = "broker"   // the MQTT broker: a TCP (and TLS) connection, and the session's state
	ProbeTownship = "township" // the township's HTTP service (media.url): any HTTP answer
	ProbeCamera   = "camera"   // a camera: RTSP DESCRIBE with its credentials
	ProbeSpeaker  = "speaker"  // a loudspeaker: see the codes
)

// Codes of a DiagProbe: what the probe found, for programs (Detail says
// it for people). It shares ProbeUnreachable, ProbeTimeout,
// ProbeUnauthorized and ProbeFailed with camera.probe (setup.go).
const (
	ProbeOK          = "ok"          // reached and answered as it should
	ProbeRefused     = "refused"     // the host answered that nothing listens there (host up)
	ProbeNoAnswer    = "silent"      // a UDP horn: no refusal came back, which is all UDP can tell; see Detail
	ProbeNotChecked  = "not_checked" // the target cannot be probed from here (multicast, not configured)
	ProbeDNS         = "dns"         // the host name did not resolve
	ProbeUnsupported = "unsupported" // not a kind of target the box knows how to check
)

// DiagProbe is one target's probe.
type DiagProbe struct {
	Target string `json:"target"` // one of the Probe* targets
	ID     string `json:"id,omitempty"`
	// Addr is what was probed (host:port), without credentials.
	Addr   string `json:"addr,omitempty"`
	OK     bool   `json:"ok"`
	Code   string `json:"code"` // one of the Probe* codes
	Detail string `json:"detail,omitempty"`
	MS     int64  `json:"ms"` // how long the probe took
}

// DiagRestartArgs says why the daemon is restarted, for its log.
type DiagRestartArgs struct {
	Reason string `json:"reason,omitempty"`
}

// Validate checks the arguments on their own.
func (a DiagRestartArgs) Validate() error {
	if len(a.Reason) > MaxNameLen {
		return fmt.Errorf("reason: longer than %d bytes", MaxNameLen)
	}
	return nil
}

// DiagRestart answers CmdDiagRestart: the daemon stops once the answer is
// on its way.
type DiagRestart struct {
	Restarting bool `json:"restarting"`
}
