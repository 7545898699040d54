// Command dalaba-edge is the village box daemon: it keeps the box's MQTT
// session with the township, applies the signed desired state, records
// events durably and uploads them, and serves the local API.
//
//	dalaba-edge [--config /etc/dalaba/edge.yaml] [--data-dir DIR]
//	dalaba-edge --version
//	dalaba-edge slot boot|exited [--config …] [--data-dir DIR]
//
// `slot boot` runs before each start (the unit's ExecStartPre): it picks
// the software slot to run and counts the boot; `slot exited` runs after
// each stop (ExecStopPost) and keeps $SERVICE_RESULT, so that a roll-back
// can name the watchdog (firmware-notes/updates.md).
//
// configs/edge.example.yaml documents every configuration key. SIGTERM or
// SIGINT stops the box cleanly: it finishes what it is storing, tells the
// township it is offline and closes its file. Exit status: 0 after a clean
// stop, 1 when the box failed while running, 2 for a usage or configuration
// error (every problem is listed).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/dalaba/dalaba/edge"
	"github.com/dalaba/dalaba/edge/config"
)

// Set by the linker: -X main.version=... -X main.buildDate=2026-11-24T00:00:00Z
// (RFC 3339, or a plain date).
var (
	version   = "dev"
	buildDate = "dev"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Exit statuses.
const (
	exitOK     = 0
	exitFailed = 1
	exitUsage  = 2
)

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "slot" {
		return slotVerb(args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet("dalaba-edge", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "/etc/dalaba/edge.yaml", "the YAML config `file` (configs/edge.example.yaml documents every key)")
	dataDir := fs.String("data-dir", "", "the data `dir`ectory, over data_dir and DALABA_DATA_DIR")
	showVersion := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "dalaba-edge: unexpected arguments: %s\n", strings.Join(fs.Args(), " "))
		return exitUsage
	}
	if *showVersion {
		fmt.Fprintf(stdout, "dalaba-edge %s (built %s)\n", version, buildDate)
		return exitOK
	}

	cfg, err := config.Load(*cfgPath)
	if err == nil {
		if *dataDir != "" {
			cfg.DataDir = *dataDir
		}
		err = cfg.Validate()
	}
	if err != nil {
		fmt.Fprintf(stderr, "dalaba-edge: configuration %s:\n%v\n", *cfgPath, indent(err.Error()))
		return exitUsage
	}
	log := cfg.Log.New(stderr)
	slog.SetDefault(log)

	built, ok := parseBuildDate(buildDate)
	if !ok {
		log.Warn("build date not set or unreadable; the clock is checked against the stored floor only", "build_date", buildDate)
	}
	e, err := edge.New(cfg, edge.Deps{Logger: log, Version: version, BuildDate: built})
	if err != nil {
		fmt.Fprintf(stderr, "dalaba-edge: %v\n", err)
		return exitFailed
	}
	if err := e.Run(ctx); err != nil {
		log.Error("dalaba-edge stopped on a failure", "err", err)
		return exitFailed
	}
	return exitOK
}

// parseBuildDate reads the linker-set build date. A box must not trust a
// clock reading earlier than the software it runs.
func parseBuildDate(s string) (time.Time, bool) {
	for _, layout := range []string{time.RFC3339, time.DateOnly} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

func indent(s string) string { return "  " + strings.ReplaceAll(s, "\n", "\n  ") }

// slotVerb runs `dalaba-edge slot boot|exited`.
func slotVerb(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || (args[0] != "boot" && args[0] != "exited") {
		fmt.Fprintln(stderr, "dalaba-edge slot: want boot or exited")
		return exitUsage
	}
	verb := args[0]
	fs := flag.NewFlagSet("dalaba-edge slot "+verb, flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "/etc/dalaba/edge.yaml", "the YAML config `file`")
	dataDir := fs.String("data-dir", "", "the data `dir`ectory, over data_dir and DALABA_DATA_DIR")
	if err := fs.Parse(args[1:]); err != nil || fs.NArg() > 0 {
		return exitUsage
	}
	cfg, err := config.Load(*cfgPath)
	if err == nil {
		if *dataDir != "" {
			cfg.DataDir = *dataDir
		}
		err = cfg.Validate()
	}
	if err != nil {
		fmt.Fprintf(stderr, "dalaba-edge: configuration %s:\n%v\n", *cfgPath, indent(err.Error()))
		return exitUsage
	}
	if verb == "exited" {
		if err := edge.SlotExited(cfg, os.Getenv("SERVICE_RESULT")); err != nil {
			fmt.Fprintf(stderr, "dalaba-edge slot exited: %v\n", err)
			return exitFailed
		}
		return exitOK
	}
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintf(stderr, "dalaba-edge slot boot: %v\n", err)
		return exitFailed
	}
	s, err := edge.SlotBoot(cfg, exe, version, time.Now())
	if err != nil {
		fmt.Fprintf(stderr, "dalaba-edge slot boot: %v\n", err)
		return exitFailed
	}
	trial := ""
	if s.Trial {
		trial = fmt.Sprintf(" on trial, start %d of %d", s.Attempts, cfg.Update.MaxBoots)
	}
	fmt.Fprintf(stdout, "dalaba-edge slot boot: slot %s, version %s%s\n", s.Active, s.Version(), trial)
	if rb := s.Rollback; rb != nil && !rb.Reported {
		fmt.Fprintf(stdout, "dalaba-edge slot boot: went back from %s to %s (%s)\n", rb.From, rb.To, rb.Reason)
	}
	return exitOK
}
