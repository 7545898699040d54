package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/dalaba/dalaba/devices/camera/sim"
)

const cameraUsage = "dalaba-sim camera [--listen ADDR] [--path PATH] [--clip FILE] [--sub-clip FILE] [--audio FILE] [--fps N] [--user NAME --pass PASSWORD] [--stats-interval D]"

// maxClipFile bounds --clip: a looped clip is held in memory, and a
// short one is all a simulated camera needs.
const maxClipFile = 64 << 20

// runCamera runs a simulated RTSP camera, looping an H.264 clip, until
// ctx ends.
func runCamera(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("dalaba-sim camera", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: %s\n", cameraUsage)
		fs.PrintDefaults()
	}
	listen := fs.String("listen", "127.0.0.1:8555", "RTSP (TCP) `address`: host:port (port 0 picks one); RTP over UDP uses a pair of ports picked on the same host")
	path := fs.String("path", sim.DefaultPath, "the stream's `path`: rtsp://ADDR/PATH")
	clipFile := fs.String("clip", "", "Annex-B H.264 or H.265 `file` (.h264, .h265) to loop (default: a built-in 2 s 640x360 test pattern)")
	subFile := fs.String("sub-clip", "", "a sub stream's clip `file`, served at rtsp://ADDR/PATH/sub (default: no sub stream)")
	audioFile := fs.String("audio", "", "raw 8 kHz A-law `file` (.alaw) looped as the camera's microphone (default: none)")
	fps := fs.Int("fps", sim.DefaultFPS, "frames per second the clip is played at")
	user := fs.String("user", "", "user `name` readers must give (default: no authentication)")
	pass := fs.String("pass", "", "`password` readers must give with --user")
	statsEvery := fs.Duration("stats-interval", 10*time.Second, "how often to log the camera's statistics; 0 disables")
	if code, ok := parseFlags(fs, args, stderr, statsEvery); !ok {
		return code
	}
	if *fps <= 0 {
		fmt.Fprintf(stderr, "dalaba-sim camera: --fps %d: must be positive\n", *fps)
		return exitUsage
	}
	if *pass != "" && *user == "" {
		fmt.Fprintln(stderr, "dalaba-sim camera: --pass needs --user")
		return exitUsage
	}
	var clip []byte
	if *clipFile != "" {
		b, err := readClip(*clipFile)
		if err != nil {
			fmt.Fprintf(stderr, "dalaba-sim camera: --clip: %v\n", err)
			return exitUsage
		}
		clip = b
	}
	var subClip, audio []byte
	for _, f := range []struct {
		name, file string
		dst        *[]byte
	}{{"--sub-clip", *subFile, &subClip}, {"--audio", *audioFile, &audio}} {
		if f.file == "" {
			continue
		}
		b, err := readClip(f.file)
		if err != nil {
			fmt.Fprintf(stderr, "dalaba-sim camera: %s: %v\n", f.name, err)
			return exitUsage
		}
		*f.dst = b
	}

	log := slog.New(slog.NewTextHandler(stderr, nil))
	// New only validates, parses the clip and binds, so whatever fails
	// here (a clip that is not H.264, an address taken) is a bad flag.
	cam, err := sim.New(sim.Config{
		Listen:   *listen,
		Path:     *path,
		Clip:     clip,
		SubClip:  subClip,
		Audio:    audio,
		FPS:      *fps,
		Username: *user,
		Password: *pass,
		Logger:   log,
	})
	if err != nil {
		fmt.Fprintf(stderr, "dalaba-sim camera: %v\n", err)
		return exitUsage
	}
	fmt.Fprintf(stdout, "camera serving %s (%s)\n", cam.URL(), cam.Clip())

	done := make(chan error, 1)
	go func() { done <- cam.Run(ctx) }()
	var tick <-chan time.Time
	if *statsEvery > 0 {
		t := time.NewTicker(*statsEvery)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case err := <-done:
			logCameraStats(log, "camera stopped", cam.Stats())
			if err != nil {
				log.Error("camera stopped on a failure", "err", err)
				return exitFailed
			}
			return exitOK
		case <-tick:
			logCameraStats(log, "camera stats", cam.Stats())
		}
	}
}

// readClip reads a --clip file, refusing one too big to hold.
func readClip(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxClipFile+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(b) > maxClipFile {
		return nil, fmt.Errorf("%s: larger than %d MiB", name, maxClipFile>>20)
	}
	return b, nil
}

func logCameraStats(log *slog.Logger, msg string, st sim.Stats) {
	log.Info(msg,
		"readers", st.Readers,
		"sessions", st.Sessions,
		"frames", st.Frames,
		"loops", st.Loops,
		"refused", st.Refused)
}
