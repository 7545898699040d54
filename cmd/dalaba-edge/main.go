// Command dalaba-edge is the village box daemon.
//
//	dalaba-edge [--config /etc/dalaba/edge.yaml] [--data-dir DIR]
//	dalaba-edge --version
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/dalaba/dalaba/edge"
	"github.com/dalaba/dalaba/edge/config"
)

// Set by the linker (-X main.version=... -X main.buildDate=...).
var (
	version   = "dev"
	buildDate = ""
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("dalaba-edge", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "/etc/dalaba/edge.yaml", "YAML config file (configs/edge.example.yaml documents every key)")
	dataDir := fs.String("data-dir", "", "data directory (overrides data_dir)")
	showVersion := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *showVersion {
		fmt.Fprintf(stdout, "dalaba-edge %s %s\n", version, buildDate)
		return 0
	}
	cfg, err := config.Load(*cfgPath)
	if err == nil {
		if *dataDir != "" {
			cfg.DataDir = *dataDir
		}
		err = cfg.Validate()
	}
	if err != nil {
		fmt.Fprintf(stderr, "dalaba-edge: configuration:\n%v\n", err)
		return 2
	}
	log := cfg.Log.New(stderr)
	slog.SetDefault(log)

	// A build date lets the box refuse a clock that reads earlier than the
	// software it runs.
	built, _ := time.Parse(time.RFC3339, buildDate) // zero when unset: no floor
	e, err := edge.New(cfg, edge.Deps{Logger: log, Version: version, BuildDate: built})
	if err != nil {
		fmt.Fprintf(stderr, "dalaba-edge: %v\n", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := e.Run(ctx); err != nil {
		log.Error("dalaba-edge stopped", "err", err)
		return 1
	}
	return 0
}
