package playout

import (
	"context"
	"testing"
	"time"

	"github.com/dalaba/dalaba/protocol"
)

// testTone runs a test tone command as the runner would, its lifetime on
// the rig's clock.
func testTone(t *testing.T, r *rig, id, speaker string, life time.Duration) protocol.TestToneResult {
	t.Helper()
	a := protocol.TestToneArgs{Speaker: speaker}
	if err := a.Validate(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	res, err := r.p.TestTone(ctx, protocol.Command{ID: id, Type: protocol.CmdTestTone, ExpiresAt: r.clk.Now().Add(life)}, a)
	if err != nil {
		t.Fatalf("test tone on %s: %v", speaker, err)
	}
	return res.(protocol.TestToneResult)
}

// TestTestToneOnOneSpeaker: the chime plays on the horn named and no
// other, also on a horn no zone lists yet; the answer says it played and
// the horn is reachable, and the play log has it.
func TestTestToneOnOneSpeaker(t *testing.T) {
	r := newRig(t, at("2027-03-01", "07:29:00"), "horn-a", "horn-b", "horn-c")
	r.p.Apply(&protocol.Broadcast{
		Speakers: []protocol.Speaker{r.speaker("horn-a"), r.speaker("horn-b"), r.speaker("horn-c")},
		Zones:    []protocol.Zone{{ID: "square", Speakers: []string{"horn-a", "horn-b"}}},
	})
	eventually(t, "zones applied", func() bool { return r.p.knownZones([]string{"square"}) == nil })

	res := testTone(t, r, "t-1", "horn-a", 15*time.Second)
	if !res.Played || !res.Reachable || res.Speaker != "horn-a" || res.DurationMS < 500 {
		t.Fatalf("test tone on horn-a: %+v", res)
	}
	r.heard("horn-a", 1)
	if n := r.sims["horn-b"].Stats().Spurts; n != 0 {
		t.Errorf("horn-b, in the same zone, heard %d spurts", n)
	}
	if l := r.waitPlay("test-"); l.Result != "played" || l.CommandID != "t-1" || len(l.Speakers) != 1 || l.Speakers[0] != "horn-a" {
		t.Errorf("play log of the test tone: %+v", l)
	}

	if res := testTone(t, r, "t-2", "horn-c", 15*time.Second); !res.Played {
		t.Errorf("test tone on a horn in no zone: %+v", res)
	}
	r.heard("horn-c", 1)

	if res := testTone(t, r, "t-3", "horn-z", 15*time.Second); res.Played || res.Reason != protocol.ToneUnknownSpeaker || res.Reachable {
		t.Errorf("test tone on a horn the box lacks: %+v", res)
	}
}

// TestTestToneOnADeadSpeaker: a horn nobody answers for says so.
func TestTestToneOnADeadSpeaker(t *testing.T) {
	r := newRig(t, at("2027-03-01", "07:29:00"))
	r.p.Apply(&protocol.Broadcast{Speakers: []protocol.Speaker{r.speaker("dead")}})
	eventually(t, "the speaker applied", func() bool {
		r.p.mu.Lock()
		defer r.p.mu.Unlock()
		return r.p.drivers["dead"] != nil
	})
	res := testTone(t, r, "t-1", "dead", 15*time.Second)
	if res.Played || res.Reason != protocol.ToneFailed || res.Error == "" || res.Reachable {
		t.Fatalf("test tone on a dead horn: %+v", res)
	}
}

// TestTestToneWaitsForAnEmergencyThenGivesUp: a tone that cannot start
// before its command is about to expire is never played, and says busy.
func TestTestToneWaitsForAnEmergencyThenGivesUp(t *testing.T) {
	r := newRig(t, at("2027-03-01", "07:29:00"), "horn")
	long := r.serve(wav(t, tone(8000, 440, 1500*time.Millisecond)))
	r.p.Apply(&protocol.Broadcast{
		Chime:    protocol.ChimeOff,
		Speakers: []protocol.Speaker{r.speaker("horn")},
		Zones:    []protocol.Zone{{ID: "square", Speakers: []string{"horn"}}},
	})
	eventually(t, "zones applied", func() bool { return r.p.knownZones([]string{"square"}) == nil })
	if _, err := play(r, "flood", protocol.PlayArgs{Media: []string{long.SHA256}, Priority: protocol.PlayEmergency}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the emergency on the air", func() bool { return r.sims["horn"].Heard() > 800 })
	done := make(chan protocol.TestToneResult, 1)
	go func() { done <- testTone(t, r, "t-1", "horn", toneMargin+100*time.Millisecond) }()
	eventually(t, "the tone queued", func() bool {
		r.p.tones.mu.Lock()
		defer r.p.tones.mu.Unlock()
		return len(r.p.tones.waiting) == 1
	})
	r.clk.Advance(time.Second) // past the tone's StartBy while the emergency plays
	res := <-done
	if res.Played || res.Reason != protocol.ToneBusy {
		t.Fatalf("a tone behind an emergency: %+v", res)
	}
	r.heard("horn", 1)
	if n := r.sims["horn"].Stats().Spurts; n != 1 {
		t.Errorf("the horn heard %d spurts, want the emergency's alone", n)
	}
}
