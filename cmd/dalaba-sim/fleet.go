package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/dalaba/dalaba/cmd/dalaba-sim/fleetsim"
	"github.com/dalaba/dalaba/protocol"
)

const fleetUsage = "dalaba-sim fleet --broker URL --credentials FILE [--township-key KEY] [--compress N] [--events-per-hour N] [--health-interval D] [--backlog N] [--spread D] [--stats-interval D]"

// runFleet runs many simulated boxes against a township's broker until
// ctx ends, logging the fleet's totals every stats interval.
func runFleet(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("dalaba-sim fleet", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: %s\n", fleetUsage)
		fs.PrintDefaults()
	}
	brokerURL := fs.String("broker", "", "the township's MQTT broker, tcp://`host:port`")
	creds := fs.String("credentials", "", "`file` of the boxes to simulate, one a line: box id, a space, its MQTT password (# starts a comment)")
	key := fs.String("township-key", "", "the township's public `key` (township_key of an edge config): desired state is then verified and its rev reported, commands answered")
	compress := fs.Float64("compress", 1, "time compression: box seconds per real second (60: a box's minute passes in a second)")
	perHour := fs.Float64("events-per-hour", 0, "events each box records per box hour besides its health reports")
	health := fs.Duration("health-interval", time.Minute, "box time between health reports and reported state, as the box")
	backlog := fs.Int("backlog", 0, "events each box holds when it starts, as after an outage")
	spread := fs.Duration("spread", 0, "real time to spread the first connects over (0: one burst)")
	statsEvery := fs.Duration("stats-interval", 10*time.Second, "how often to log the fleet's totals; 0 disables")
	if code, ok := parseFlags(fs, args, stderr, statsEvery); !ok {
		return code
	}
	bad := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "dalaba-sim fleet: "+format+"\n", a...)
		return exitUsage
	}
	if *creds == "" {
		return bad("--credentials is required")
	}
	raw, err := os.ReadFile(*creds)
	if err != nil {
		return bad("--credentials: %v", err)
	}
	boxes, err := parseCredentials(raw)
	if err != nil {
		return bad("--credentials %s: %v", *creds, err)
	}
	cfg := fleetsim.Config{BrokerURL: *brokerURL, Boxes: boxes, Compress: *compress, EventsPerHour: *perHour,
		HealthEvery: *health, Backlog: *backlog, Spread: *spread}
	if *key != "" {
		if cfg.TownshipKey, err = protocol.ParsePublicKey(*key); err != nil {
			return bad("--township-key: %v", err)
		}
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	sim, err := fleetsim.New(cfg, fleetsim.Deps{Logger: log})
	if err != nil {
		return bad("%v", err)
	}
	fmt.Fprintf(stdout, "dalaba-sim fleet: %d boxes → %s, time ×%g\n", len(boxes), *brokerURL, *compress)
	done := make(chan error, 1)
	go func() { done <- sim.Run(ctx) }()
	var tick <-chan time.Time
	if *statsEvery > 0 {
		t := time.NewTicker(*statsEvery)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case err := <-done:
			logFleet(log, sim.Stats())
			if err != nil {
				fmt.Fprintf(stderr, "dalaba-sim fleet: %v\n", err)
				return exitFailed
			}
			return exitOK
		case <-tick:
			logFleet(log, sim.Stats())
		}
	}
}

func logFleet(log *slog.Logger, s fleetsim.Stats) {
	log.Info("fleet", "online", s.Online, "connects", s.Connects, "connect_fails", s.ConnectFails, "lost", s.Lost,
		"recorded", s.Recorded, "batches", s.Batches, "sent", s.Sent, "acked", s.Acked, "pending", s.Pending, "resends", s.Resends,
		"desired", s.Desired, "commands", s.Commands)
}

// parseCredentials reads a credentials file: a box id, one or more spaces
// or tabs, the password, one box a line; blank lines and lines starting
// with # are skipped. Every problem is reported, with its line.
func parseCredentials(raw []byte) ([]fleetsim.Box, error) {
	var boxes []fleetsim.Box
	var errs []error
	seen := map[string]int{}
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(make([]byte, 0, 4096), 1<<16)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 2 {
			errs = append(errs, fmt.Errorf("line %d: want a box id and a password, found %d fields", n, len(f)))
			continue
		}
		if err := protocol.ValidateBoxID(f[0]); err != nil {
			errs = append(errs, fmt.Errorf("line %d: %w", n, err))
			continue
		}
		if first, ok := seen[f[0]]; ok {
			errs = append(errs, fmt.Errorf("line %d: box %s already on line %d", n, f[0], first))
			continue
		}
		seen[f[0]] = n
		boxes = append(boxes, fleetsim.Box{ID: f[0], Password: f[1]})
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, err)
	}
	if len(boxes) == 0 && len(errs) == 0 {
		errs = append(errs, errors.New("no boxes"))
	}
	return boxes, errors.Join(errs...)
}
