package playout

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/dalaba/dalaba/devices/speaker/speakersim"
	"github.com/dalaba/dalaba/protocol"
	"github.com/dalaba/dalaba/protocol/schedule"
)

// BenchmarkScheduledToFirstPacket measures, for a daily announcement whose
// clip is cached, the time from the clock reaching its instant to the first
// RTP packet arriving at the speaker: the scheduler's wake-up, rendering,
// the arbiter, the driver and the loopback network. It reports p50 and p99
// over 100 occurrences per op.
func BenchmarkScheduledToFirstPacket(b *testing.B) {
	r := newRig(b, at("2027-03-01", "07:29:00"), "horn")
	m := r.serve(wav(b, tone(8000, 440, 20*time.Millisecond)))
	r.p.Apply(&protocol.Broadcast{
		Chime:     protocol.ChimeOff,
		Speakers:  []protocol.Speaker{r.speaker("horn")},
		Zones:     []protocol.Zone{{ID: "square", Speakers: []string{"horn"}}},
		Media:     []protocol.Media{m},
		Schedules: []protocol.Schedule{{ID: "daily", Media: []string{m.SHA256}, Rule: schedule.Rule{At: []string{"07:30"}}}},
	})
	r.loaded(1)
	sim := r.sims["horn"]
	var lat []time.Duration
	day := at("2027-03-01", "07:30:00")
	played := 0
	for b.Loop() {
		for range 100 {
			before := sim.Stats().Packets
			// The scheduler is asleep on its timer: give it a moment so
			// the measurement starts from a sleeping box.
			time.Sleep(2 * time.Millisecond)
			start := time.Now()
			r.clk.Set(day)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			err := sim.Wait(ctx, func(st speakersim.Stats, _ int) bool { return st.Packets > before })
			cancel()
			if err != nil {
				b.Fatalf("no packet for %s: %v", day, err)
			}
			lat = append(lat, time.Since(start))
			played++
			eventually(b, "the play logged", func() bool { return r.count(protocol.EventPlayed) >= played })
			day = day.AddDate(0, 0, 1)
		}
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}

// BenchmarkMemoryPerZone measures the heap a zone costs the box: one RTP
// speaker and a 30 s announcement decoded for it, 16 zones playing at
// once.
func BenchmarkMemoryPerZone(b *testing.B) {
	const zones = 16
	ids := make([]string, zones)
	for i := range ids {
		ids[i] = fmt.Sprintf("h%02d", i)
	}
	for b.Loop() {
		b.StopTimer()
		r := newRig(b, at("2027-03-01", "07:29:00"), ids...)
		spec := &protocol.Broadcast{Chime: protocol.ChimeOff}
		for i, id := range ids {
			m := r.serve(wav(b, tone(8000, 300+float64(10*i), 30*time.Second))) // at the horns' rate: the bench measures memory, not resampling
			spec.Speakers = append(spec.Speakers, r.speaker(id))
			spec.Zones = append(spec.Zones, protocol.Zone{ID: "z" + id, Speakers: []string{id}})
			spec.Media = append(spec.Media, m)
			spec.Schedules = append(spec.Schedules, protocol.Schedule{ID: "s" + id, Media: []string{m.SHA256},
				Zones: []string{"z" + id}, Rule: schedule.Rule{At: []string{"07:30"}}})
		}
		base := heap()
		b.StartTimer()
		r.p.Apply(spec)
		r.loaded(zones)
		r.clk.Set(at("2027-03-01", "07:30:00"))
		eventually(b, "every zone on the air", func() bool {
			for _, s := range r.sims {
				if s.Stats().Packets < 10 {
					return false
				}
			}
			return true
		})
		b.ReportMetric(float64(heap()-base)/zones/1024, "KiB/zone")
		b.ReportMetric(float64(r.p.ClipBytes())/zones/1024, "clip-KiB/zone")
	}
}

func heap() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}
