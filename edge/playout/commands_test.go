package playout

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/dalaba/dalaba/edge/command"
	"github.com/dalaba/dalaba/protocol"
)

// A play whose clips are decoded needs no I/O and runs on the control lane,
// whatever its priority; one that must load a clip waits on the slow lane,
// unless it is an emergency, which must never wait for a slot.
func TestPlayLaneFollowsTheClips(t *testing.T) {
	r := newRig(t, at("2027-03-01", "07:29:00"), "horn")
	cached := r.serve(wav(t, tone(8000, 440, 200*time.Millisecond)))
	missing := r.serve(wav(t, tone(8000, 660, 200*time.Millisecond)))
	r.p.Apply(&protocol.Broadcast{
		Chime:    protocol.ChimeOff,
		Speakers: []protocol.Speaker{r.speaker("horn")},
		Zones:    []protocol.Zone{{ID: "square", Speakers: []string{"horn"}}},
	})
	eventually(t, "zones applied", func() bool { return r.p.knownZones([]string{"square"}) == nil })
	if _, err := play(r, "warm", protocol.PlayArgs{Media: []string{cached.SHA256}}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		args protocol.PlayArgs
		want command.Lane
	}{
		{"decoded", protocol.PlayArgs{Media: []string{cached.SHA256}}, command.Control},
		{"decoded emergency", protocol.PlayArgs{Media: []string{cached.SHA256}, Priority: protocol.PlayEmergency}, command.Control},
		{"to download", protocol.PlayArgs{Media: []string{cached.SHA256, missing.SHA256}}, command.Slow},
		{"emergency to download", protocol.PlayArgs{Media: []string{missing.SHA256}, Priority: protocol.PlayEmergency}, command.Urgent},
		{"unknown zone: fails at once", protocol.PlayArgs{Media: []string{missing.SHA256}, Zones: []string{"moon"}}, command.Control},
	}
	for _, c := range cases {
		if got := r.p.playLane(c.args); got != c.want {
			t.Errorf("%s: lane %s, want %s", c.name, got, c.want)
		}
	}
}

// A play whose command expires while its clip downloads is never handed to
// the arbiter: the play log says it failed and why, the speaker hears
// nothing, and the clip is not blamed for it.
func TestPlayThatExpiresWhileItsClipLoadsIsNotQueued(t *testing.T) {
	r := newRig(t, at("2027-03-01", "07:29:00"), "horn")
	stuck := r.serve(wav(t, tone(8000, 440, 200*time.Millisecond)))
	asked := make(chan struct{}, 1)
	r.hanging.Store(stuck.SHA256, asked)
	r.p.Apply(&protocol.Broadcast{
		Chime:    protocol.ChimeOff,
		Speakers: []protocol.Speaker{r.speaker("horn")},
		Zones:    []protocol.Zone{{ID: "square", Speakers: []string{"horn"}}},
	})
	eventually(t, "zones applied", func() bool { return r.p.knownZones([]string{"square"}) == nil })

	// The runner ends a command's context at its expiry with this cause.
	ctx, expire := context.WithCancelCause(context.Background())
	go func() {
		<-asked // the download has begun, and hangs
		expire(command.ErrExpired)
	}()
	_, err := r.p.Play(ctx, protocol.Command{ID: "late"}, protocol.PlayArgs{Media: []string{stuck.SHA256}})
	if !errors.Is(err, command.ErrExpired) {
		t.Fatalf("Play: %v, want ErrExpired", err)
	}
	l := r.waitPlay("now-")
	if l.Result != "failed" || l.CommandID != "late" || !strings.Contains(l.Errors["item"], "expired") {
		t.Errorf("play log %+v", l)
	}
	if n := r.count(protocol.EventBroadcastError); n != 0 {
		t.Errorf("%d broadcast errors blame the clip: %s", n, r.dump())
	}
	if st := r.sims["horn"].Stats(); st.Packets != 0 {
		t.Errorf("the speaker heard %d packets", st.Packets)
	}
}
