// Command dalaba-edge is the village box daemon: it keeps the box's MQTT
// session with the township, applies the signed desired state, records
// events durably and uploads them, and serves the local API.
//
//	dalaba-edge [run] [--config /etc/dalaba/edge.yaml] [--data-dir DIR] [--claim-file FILE]
//	dalaba-edge enroll --township https://… --code XXXX-XXXX [--village ID] [--config FILE] [--data-dir DIR] [--ca FILE]
//	dalaba-edge --version
//	dalaba-edge slot boot|exited [--config …] [--data-dir DIR]
//
// `slot boot` runs before each start (the unit's ExecStartPre): it picks
// the software slot to run and counts the boot; `slot exited` runs after
// each stop (ExecStopPost) and keeps $SERVICE_RESULT, so that a roll-back
// can name the watchdog (firmware-notes/updates.md).
//
// enroll asks the township for the box's identity with a claim code and
// writes the config (replacing one without a box id, such as the
// package's example); then systemd starts the daemon. A box whose config
// names no box started with a claim file (default
// /boot/firmware/dalaba-claim.txt: township, code, optionally village and
// ca_file, in YAML) enrolls first, into <data_dir>/enrolled.yaml (the
// config it started with, its identity filled in), which it runs with from
// then on. A refused code prints what to do and exits 1
// (enroll) or 2 (the first boot, so that systemd does not try again).
//
// configs/edge.example.yaml documents every configuration key. SIGTERM or
// SIGINT stops the box cleanly: it finishes what it is storing, tells the
// township it is offline and closes its file. Exit status: 0 after a clean
// stop, 1 when the box failed while running, 2 for a usage or configuration
// error (every problem is listed).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
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
	if len(args) > 0 {
		switch args[0] {
		case "enroll":
			return enroll(ctx, args[1:], stdout, stderr)
		case "slot":
			return slotVerb(args[1:], stdout, stderr)
		case "run":
			args = args[1:]
		}
	}
	fs := flag.NewFlagSet("dalaba-edge", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "/etc/dalaba/edge.yaml", "the YAML config `file` (configs/edge.example.yaml documents every key)")
	dataDir := fs.String("data-dir", "", "the data `dir`ectory, over data_dir and DALABA_DATA_DIR")
	showVersion := fs.Bool("version", false, "print the version and exit")
	claimFile := fs.String("claim-file", defaultClaimFile, "the claim `file` a box without identity enrolls with at its first boot")
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

	path, code, ok := firstBoot(ctx, *cfgPath, *dataDir, *claimFile, stdout, stderr)
	if !ok {
		return code
	}
	cfgPath = &path
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

// defaultClaimFile is where a first boot finds its claim code: the boot
// partition of Raspberry Pi OS, writable from any computer.
const defaultClaimFile = "/boot/firmware/dalaba-claim.txt"

// enroll is the enroll command.
func enroll(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("dalaba-edge enroll", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o edge.EnrollOptions
	fs.StringVar(&o.Township, "township", "", "the township service's `URL` (https://…)")
	fs.StringVar(&o.Code, "code", "", "the claim `code` (XXXX-XXXX)")
	fs.StringVar(&o.Village, "village", "", "the box `id` the code must be for (optional)")
	fs.StringVar(&o.ConfigPath, "config", "/etc/dalaba/edge.yaml", "the config `file` to write")
	fs.StringVar(&o.DataDir, "data-dir", "", "the data `dir`ectory written into the config (default /var/lib/dalaba)")
	fs.StringVar(&o.CAFile, "ca", "", "a CA certificate `file` to trust for the township (and its broker) instead of the system's")
	fs.DurationVar(&o.Timeout, "timeout", time.Minute, "how long to wait for the township")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() > 0 || o.Township == "" || o.Code == "" {
		fmt.Fprintln(stderr, "dalaba-edge enroll: --township and --code are required (dalaba-edge enroll --township https://… --code XXXX-XXXX)")
		return exitUsage
	}
	res, err := edge.Enroll(ctx, o)
	if err != nil {
		fmt.Fprintln(stderr, "dalaba-edge enroll: "+enrollSentence(err))
		return exitFailed
	}
	fmt.Fprintf(stdout, "Enrolled as box %s (%s); config written to %s.\nStart the daemon: systemctl enable --now dalaba-edge\n", res.BoxID, res.Name, res.ConfigPath)
	return exitOK
}

// enrollSentence is what a person reads of an enrollment's failure.
func enrollSentence(err error) string {
	if r, ok := errors.AsType[*edge.EnrollRefused](err); ok {
		return r.Sentence()
	}
	return err.Error()
}

// firstBoot returns the config to run with: cfgPath when it names a box;
// else <data_dir>/enrolled.yaml, enrolled first with the claim file when
// it is not there yet. No claim file: cfgPath, which Validate will refuse
// for want of a box id. ok false: exit with code.
func firstBoot(ctx context.Context, cfgPath, dataDir, claimFile string, stdout, stderr io.Writer) (path string, code int, ok bool) {
	if has, err := edge.HasIdentity(cfgPath); err != nil || has {
		return cfgPath, 0, true // an unreadable config is reported by the caller
	}
	if dataDir == "" {
		dataDir = config.Default().DataDir
		if cfg, err := config.Load(cfgPath); err == nil {
			dataDir = cfg.DataDir
		} else if v := os.Getenv(config.EnvDataDir); v != "" {
			dataDir = v
		}
	}
	enrolled := filepath.Join(dataDir, "enrolled.yaml")
	if _, err := os.Stat(enrolled); err == nil {
		return enrolled, 0, true
	}
	if _, err := os.Stat(claimFile); err != nil {
		return cfgPath, 0, true
	}
	cf, err := edge.ReadClaimFile(claimFile)
	if err != nil {
		fmt.Fprintf(stderr, "dalaba-edge: %v\n", err)
		return "", exitUsage, false
	}
	o := edge.EnrollOptions{Township: cf.Township, Code: cf.Code, Village: cf.Village, CAFile: cf.CAFile, ConfigPath: enrolled, DataDir: dataDir, Base: cfgPath}
	// The network may come up after the daemon: wait for it.
	wait := 5 * time.Second
	for {
		res, err := edge.Enroll(ctx, o)
		if err == nil {
			fmt.Fprintf(stdout, "dalaba-edge: enrolled as box %s (%s) with %s; config written to %s\n", res.BoxID, res.Name, claimFile, enrolled)
			return enrolled, 0, true
		}
		if !edge.EnrollTransient(err) {
			fmt.Fprintf(stderr, "dalaba-edge: enrolling with %s: %s\n", claimFile, enrollSentence(err))
			return "", exitUsage, false
		}
		fmt.Fprintf(stderr, "dalaba-edge: enrolling with %s: %v; trying again in %s\n", claimFile, err, wait)
		select {
		case <-ctx.Done():
			return "", exitFailed, false
		case <-time.After(wait):
		}
		wait = min(2*wait, 2*time.Minute)
	}
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
