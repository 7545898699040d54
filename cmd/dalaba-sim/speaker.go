package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/dalaba/dalaba/devices/audio"
	"github.com/dalaba/dalaba/devices/speaker/speakersim"
)

// recordName is the file --record writes in its directory.
const recordName = "heard.wav"

const speakerUsage = "dalaba-sim speaker [--listen ADDR] [--interface IF] [--record DIR] [--stats-interval D] [--name NAME]"

// runSpeaker runs a simulated paging speaker until ctx ends. With --record
// it writes everything heard (the latest speakersim.DefaultMaxRecord of
// it) to DIR/heard.wav on exit and whenever SIGUSR1 arrives, replacing
// the file each time: one file, always whole, is what a script or a
// person wants to play back.
func runSpeaker(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("dalaba-sim speaker", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: %s\n", speakerUsage)
		fs.PrintDefaults()
	}
	listen := fs.String("listen", "127.0.0.1:5004", "UDP `address` to take RTP on: host:port (port 0 picks one), or a multicast group such as 239.255.10.1:5004, which is joined")
	iface := fs.String("interface", "", "network `interface` to join the multicast group on (default: the kernel's choice)")
	record := fs.String("record", "", "`dir`ectory to write "+recordName+" in, on exit and on SIGUSR1 (default: no recording)")
	statsEvery := fs.Duration("stats-interval", 10*time.Second, "how often to log the reception statistics; 0 disables")
	name := fs.String("name", "", "a `label` for the log lines, to tell several simulated speakers apart")
	if code, ok := parseFlags(fs, args, stderr, statsEvery); !ok {
		return code
	}
	var wavPath string
	if *record != "" {
		// Made now, so a bad directory fails at start, not after a
		// long run when the recording would be lost.
		if err := os.MkdirAll(*record, 0o755); err != nil {
			fmt.Fprintf(stderr, "dalaba-sim speaker: --record: %v\n", err)
			return exitUsage
		}
		wavPath = filepath.Join(*record, recordName)
	}

	// New only validates and binds, so whatever fails here (an address
	// that does not parse, is taken or is not this host's, an unknown
	// interface) is a bad flag.
	sim, err := speakersim.New(speakersim.Config{Listen: *listen, Interface: *iface})
	if err != nil {
		fmt.Fprintf(stderr, "dalaba-sim speaker: --listen %s: %v\n", *listen, err)
		return exitUsage
	}

	log := slog.New(slog.NewTextHandler(stderr, nil))
	if *name != "" {
		log = log.With("name", *name)
	}
	slog.SetDefault(log)

	// Registered before the listening line is printed: SIGUSR1's default
	// action kills the process, and scripts signal once they see the line.
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	defer signal.Stop(usr1)

	addr := sim.Addr()
	kind := "RTP PCMU/PCMA"
	if addr.IP.IsMulticast() {
		kind = "multicast, " + kind
	}
	fmt.Fprintf(stdout, "speaker listening on %s (%s)\n", addr, kind)
	log.Info("speaker started", "listen", addr.String(), "record", wavPath, "stats_interval", *statsEvery)

	done := make(chan error, 1)
	go func() { done <- sim.Run(ctx) }()
	var tick <-chan time.Time
	if *statsEvery > 0 {
		t := time.NewTicker(*statsEvery)
		defer t.Stop()
		tick = t.C
	}
	code := exitOK
	for running := true; running; {
		select {
		case err := <-done:
			if err != nil {
				log.Error("speaker stopped on a failure", "err", err)
				code = exitFailed
			}
			running = false
		case <-tick:
			logStats(log, "speaker stats", sim.Stats())
		case <-usr1:
			if wavPath == "" {
				log.Warn("SIGUSR1 ignored: no --record directory")
				continue
			}
			d, err := writeWAV(sim, wavPath)
			if err != nil {
				log.Error("recording not written", "err", err)
				continue
			}
			log.Info("recording written", "path", wavPath, "length", d)
		}
	}

	logStats(log, "speaker stopped", sim.Stats())
	if wavPath != "" {
		d, err := writeWAV(sim, wavPath)
		if err != nil {
			log.Error("recording not written", "err", err)
			return exitFailed
		}
		log.Info("recording written", "path", wavPath, "length", d)
	}
	return code
}

func logStats(log *slog.Logger, msg string, st speakersim.Stats) {
	log.Info(msg,
		"packets", st.Packets,
		"lost", st.Lost,
		"late", st.Late,
		"jitter", st.Jitter,
		"spurts", st.Spurts,
		"ended", st.Ended,
		"sources", st.Sources,
		"bad_packets", st.BadPackets)
}

// writeWAV writes what sim heard to path and returns its length. It
// writes beside path and renames, so a player or a test reading path
// while SIGUSR1 rewrites it never sees half a file.
func writeWAV(sim *speakersim.Sim, path string) (time.Duration, error) {
	pcm := sim.Audio()
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return 0, fmt.Errorf("recording: %w", err)
	}
	err = audio.EncodeWAV(f, pcm)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp) // the write error is the one to report
		return 0, fmt.Errorf("recording %s: %w", path, err)
	}
	return time.Duration(len(pcm.Samples)) * time.Second / time.Duration(pcm.Rate), nil
}
