package bulk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/dalaba/dalaba/cloud/fleet"
	"github.com/dalaba/dalaba/cloud/plan"
	"github.com/dalaba/dalaba/cloud/store"
	"github.com/dalaba/dalaba/cloud/store/boltstore"
	"github.com/dalaba/dalaba/internal/testenv"
	"github.com/dalaba/dalaba/protocol"
	"github.com/dalaba/dalaba/protocol/schedule"
)

// published records what the fleet publishes: the broker is not what
// these tests are about.
type published struct {
	mu    sync.Mutex
	boxes map[string]int
}

func (p *published) PublishDesired(_ context.Context, box string, _ []byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.boxes[box]++
	return nil
}

type rig struct {
	st   *boltstore.Store
	pub  *published
	jobs *Jobs
	clip string
}

// newRig is a store of n boxes, a fleet, a planner and the jobs, running
// until the test ends.
func newRig(tb testing.TB, n int) *rig {
	tb.Helper()
	st, err := boltstore.Open(filepath.Join(tb.TempDir(), "cloud.db"), boltstore.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	log := slog.New(slog.DiscardHandler)
	key, err := protocol.GenerateKey()
	if err != nil {
		tb.Fatal(err)
	}
	pub := &published{boxes: map[string]int{}}
	fl, err := fleet.New(fleet.Config{Validity: 720 * time.Hour, BrokerURL: "tls://township.example:8883", CloudUser: "dalaba_cloud"},
		fleet.Deps{Logger: log, Store: st, Key: key, Publisher: pub})
	if err != nil {
		tb.Fatal(err)
	}
	pl, err := plan.New(plan.Deps{Logger: log, Store: st, Fleet: fl})
	if err != nil {
		tb.Fatal(err)
	}
	ctx := context.Background()
	for i := range n {
		id := fmt.Sprintf("v%05d", i)
		if err := st.CreateBox(ctx, store.Box{ID: id, Name: fmt.Sprintf("村%d", i), Incarnation: 1}); err != nil {
			tb.Fatal(err)
		}
	}
	// Villages with one horn in one zone, as set up.
	if _, err := st.UpdatePlans(ctx, ids(n), func(p *store.Plan) error {
		p.Broadcast.Speakers = []protocol.Speaker{{ID: "east", Driver: protocol.DriverRTP, Addr: "192.168.1.20:5004"}}
		p.Broadcast.Zones = []protocol.Zone{{ID: "all", Speakers: []string{"east"}}}
		return nil
	}); err != nil {
		tb.Fatal(err)
	}
	clip := "3f1a9c0000000000000000000000000000000000000000000000000000000000"
	if err := st.PutMedia(ctx, store.MediaInfo{SHA256: clip, Name: "防汛通知", Format: "wav", Size: 1000, DurationMS: 1000, UploadedAt: time.Now()}); err != nil {
		tb.Fatal(err)
	}
	jobs, err := New(Deps{Logger: log, Planner: pl})
	if err != nil {
		tb.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- jobs.Run(runCtx) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("Run: %v", err)
		}
	})
	return &rig{st: st, pub: pub, jobs: jobs, clip: clip}
}

func ids(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("v%05d", i)
	}
	return out
}

// wait polls job id until it has ended.
func (r *rig) wait(tb testing.TB, id string) Job {
	tb.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		j, ok := r.jobs.Get(id)
		if !ok {
			tb.Fatalf("job %s forgotten", id)
		}
		if j.State == Done {
			return j
		}
		time.Sleep(5 * time.Millisecond)
	}
	tb.Fatalf("job %s did not end", id)
	return Job{}
}

// desiredSchedules opens box's stored desired state and lists the ids of
// its schedules.
func (r *rig) desiredSchedules(t *testing.T, box string) ([]string, uint64) {
	t.Helper()
	d, err := r.st.GetDesired(t.Context(), box)
	if err != nil {
		t.Fatalf("desired state of %s: %v", box, err)
	}
	var env protocol.Envelope
	var des protocol.Desired
	if err := json.Unmarshal(d.Payload, &env); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(env.Body, &des); err != nil {
		t.Fatal(err)
	}
	spec, err := protocol.DecodeSpec(des.Spec)
	if err != nil {
		t.Fatalf("spec of %s: %v", box, err)
	}
	var out []string
	if spec.Broadcast != nil {
		for _, s := range spec.Broadcast.Schedules {
			out = append(out, s.ID)
			if s.ID == "flood" && !slices.Equal(s.Media, []string{r.clip}) {
				t.Errorf("%s: flood schedule media %v", box, s.Media)
			}
		}
	}
	return out, d.Rev
}

func floodSchedule(clip string) *protocol.Schedule {
	return &protocol.Schedule{ID: "flood", Name: "防汛通知", Media: []string{clip}, Rule: schedule.Rule{At: []string{"08:00", "18:00"}, Zone: schedule.DefaultZone}}
}

// TestJobGivesEveryBoxItsChange: one job puts a schedule into the plans
// of N boxes; each box gets a signed desired state carrying it, the job
// counts them done, and a box that does not exist fails alone.
func TestJobGivesEveryBoxItsChange(t *testing.T) {
	const n = 120
	r := newRig(t, n)
	boxes := append(ids(n), "no-such-box")
	j, err := r.jobs.Submit("王主任", "", Change{Schedule: floodSchedule(r.clip)}, boxes)
	if err != nil {
		t.Fatal(err)
	}
	if j.State != Queued || j.Total != n+1 || j.Queued != n+1 {
		t.Errorf("submitted job %+v, want all %d queued", j, n+1)
	}
	j = r.wait(t, j.ID)
	if j.Done != n || j.Failed != 1 || j.Queued != 0 {
		t.Fatalf("job ended %d done, %d failed, %d queued; want %d, 1, 0 (first: %+v)", j.Done, j.Failed, j.Queued, n, j.Boxes[0])
	}
	last := j.Boxes[n]
	if last.State != Failed || !errors.Is(last.Err, store.ErrNotFound) || last.Error == "" {
		t.Errorf("unknown box: %+v, want failed, not found", last)
	}
	for _, b := range j.Boxes[:n] {
		got, rev := r.desiredSchedules(t, b.ID)
		if b.State != Done || b.Rev != rev || !slices.Equal(got, []string{"flood"}) {
			t.Errorf("%s: %+v, desired rev %d with schedules %v; want done at that rev with flood", b.ID, b, rev, got)
		}
		if r.pub.boxes[b.ID] == 0 {
			t.Errorf("%s: desired state never published", b.ID)
		}
	}

	// Removing it again: every box's next desired state is without it.
	j, err = r.jobs.Submit("王主任", "", Change{DeleteSchedule: "flood"}, ids(n))
	if err != nil {
		t.Fatal(err)
	}
	if j = r.wait(t, j.ID); j.Done != n {
		t.Fatalf("removal: %d done of %d", j.Done, n)
	}
	for _, id := range ids(n) {
		if got, _ := r.desiredSchedules(t, id); len(got) != 0 {
			t.Errorf("%s: schedules %v after the removal", id, got)
		}
	}
	if l := r.jobs.List(); len(l) != 2 || l[0].ID != j.ID || l[0].Boxes != nil {
		t.Errorf("List: %+v, want both jobs, newest first, without boxes", l)
	}
}

func TestJobRefusedAsAWhole(t *testing.T) {
	r := newRig(t, 1)
	bad := *floodSchedule(r.clip)
	bad.Rule.At = []string{"25:00"}
	for name, c := range map[string]struct {
		change Change
		boxes  []string
	}{
		"no change":        {Change{}, ids(1)},
		"both changes":     {Change{Schedule: floodSchedule(r.clip), DeleteSchedule: "x"}, ids(1)},
		"bad rule":         {Change{Schedule: &bad}, ids(1)},
		"no clip":          {Change{Schedule: &protocol.Schedule{ID: "a", Rule: bad.Rule}}, ids(1)},
		"bad id to delete": {Change{DeleteSchedule: "Bad/Id"}, ids(1)},
		"no boxes":         {Change{DeleteSchedule: "flood"}, nil},
		"too many boxes":   {Change{DeleteSchedule: "flood"}, make([]string, MaxBoxes+1)},
	} {
		if _, err := r.jobs.Submit("王主任", "", c.change, c.boxes); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	if l := r.jobs.List(); len(l) != 0 {
		t.Errorf("refused jobs were kept: %+v", l)
	}
}

// BenchmarkPlanChange5000 pushes one schedule to 5,000 boxes as one job:
// each box's plan saved and its desired state signed, stored and
// published. make test runs it at 500 boxes.
func BenchmarkPlanChange5000(b *testing.B) {
	n := testenv.BenchSize(5000, 500)
	r := newRig(b, n)
	boxes := ids(n)
	i := 0
	for b.Loop() {
		s := floodSchedule(r.clip)
		s.Name = fmt.Sprintf("防汛通知 %d", i)
		i++
		j, err := r.jobs.Submit("王主任", "", Change{Schedule: s}, boxes)
		if err != nil {
			b.Fatal(err)
		}
		if j = r.wait(b, j.ID); j.Done != n {
			b.Fatalf("%d done of %d", j.Done, n)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/job")
}
