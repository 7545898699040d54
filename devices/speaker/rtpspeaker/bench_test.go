package rtpspeaker

import (
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/dalaba/dalaba/devices/audio"
)

// cpuTime is the CPU time this process has used, user and system.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkRTP16Streams plays a 2 s clip, already 8 kHz mono as
// edge/media prepares it, to 16 unicast speakers at once, paced in real
// time. ns/op is wall time, about 2 s; cpu-% is the process's CPU time
// over that wall time (100 is one core busy), and cpu-ns/packet the CPU
// per packet sent. The receivers are sockets nobody reads, so only the
// sending is measured.
func BenchmarkRTP16Streams(b *testing.B) {
	const streams = 16
	clip, err := audio.Concat(audio.Chime(8000), audio.Chime(8000))
	if err != nil {
		b.Fatal(err)
	}
	clip.Samples = clip.Samples[:2*8000]
	packets := (len(clip.Samples) + Frame - 1) / Frame
	var speakers []*Speaker
	for range streams {
		sink, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			b.Fatal(err)
		}
		defer sink.Close()
		speakers = append(speakers, newSpeaker(b, Config{Addr: sink.LocalAddr().String()}))
	}
	var cpu, wall time.Duration
	for b.Loop() {
		cpu0, wall0 := cpuTime(b), time.Now()
		errs := make(chan error, streams)
		for _, sp := range speakers {
			go func() { errs <- sp.Play(b.Context(), clip) }()
		}
		for range streams {
			if err := <-errs; err != nil {
				b.Fatal(err)
			}
		}
		cpu += cpuTime(b) - cpu0
		wall += time.Since(wall0)
	}
	b.ReportMetric(100*cpu.Seconds()/wall.Seconds(), "cpu-%")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*streams*packets), "cpu-ns/packet")
}
