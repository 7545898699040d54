// Command dalaba-sim runs simulated field devices, so the box can be
// developed, demonstrated and tested without the hardware.
//
//	dalaba-sim speaker [--listen ADDR] [--interface IF] [--record DIR] [--stats-interval D] [--name NAME]
//	dalaba-sim camera [--listen ADDR] [--path PATH] [--clip FILE] [--fps N] [--user U --pass P]
//	dalaba-sim fleet --broker URL --credentials FILE [--township-key KEY] [--compress N] [--events-per-hour N] ...
//	dalaba-sim help [COMMAND]
//	dalaba-sim --version
//
// speaker is an IP paging loudspeaker: it takes RTP G.711 (PCMU or PCMA)
// on a unicast address or a multicast group, logs what a real horn's
// jitter buffer would suffer and, with --record, writes what it heard as
// a WAV file. camera is an RTSP camera looping a short H.264 clip. fleet
// is many village boxes in one process (package fleetsim), for measuring
// a township at county scale.
// `dalaba-sim help COMMAND` lists a command's flags.
//
// A device runs until SIGINT or SIGTERM. Exit status: 0 after a clean
// stop, 1 when the device failed while running, 2 for a usage error.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

// version is set by the linker: -ldflags "-X main.version=v1.2.3".
var version = "dev"

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

// command is one simulated device.
type command struct {
	name, summary string
	run           func(ctx context.Context, args []string, stdout, stderr io.Writer) int
}

// commands lists the devices; a new one is one more line here.
func commands() []command {
	return []command{
		{"speaker", "an RTP paging loudspeaker (unicast or multicast), recording what it hears", runSpeaker},
		{"camera", "an RTSP monitoring camera looping an H.264 clip (UDP or TCP, optional credentials)", runCamera},
		{"fleet", "many village boxes speaking the box's MQTT protocol to a township, with time compression", runFleet},
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	switch args[0] {
	case "--version", "-version":
		fmt.Fprintf(stdout, "dalaba-sim %s\n", version)
		return exitOK
	case "help", "--help", "-help", "-h":
		if len(args) > 1 {
			// Each command prints its own flags on -h.
			if c, ok := lookup(args[1]); ok {
				c.run(ctx, []string{"-h"}, stdout, stdout)
				return exitOK
			}
			fmt.Fprintf(stderr, "dalaba-sim: unknown command %q: %s\n", args[1], names())
			return exitUsage
		}
		usage(stdout)
		return exitOK
	}
	c, ok := lookup(args[0])
	if !ok {
		fmt.Fprintf(stderr, "dalaba-sim: unknown command %q: %s, help or --version\n", args[0], names())
		return exitUsage
	}
	return c.run(ctx, args[1:], stdout, stderr)
}

func lookup(name string) (command, bool) {
	for _, c := range commands() {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

func names() string {
	var n []string
	for _, c := range commands() {
		n = append(n, c.name)
	}
	return strings.Join(n, ", ")
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: dalaba-sim COMMAND [flags]\n\ncommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\n`dalaba-sim help COMMAND` lists a command's flags; `dalaba-sim --version` prints the version.")
}

// parseFlags parses a simulator's flags and the checks every simulator
// shares: no arguments beyond the flags, a stats interval not negative
// (read once parsed). When not ok, code is the exit status, the reason
// already written to stderr (-h is not an error).
func parseFlags(fs *flag.FlagSet, args []string, stderr io.Writer, statsEvery *time.Duration) (code int, ok bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK, false
		}
		return exitUsage, false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "%s: unexpected arguments: %s\n", fs.Name(), strings.Join(fs.Args(), " "))
		return exitUsage, false
	}
	if *statsEvery < 0 {
		fmt.Fprintf(stderr, "%s: --stats-interval %s is negative\n", fs.Name(), *statsEvery)
		return exitUsage, false
	}
	return 0, true
}
