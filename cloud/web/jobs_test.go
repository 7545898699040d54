package web

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dalaba/dalaba/cloud/bulk"
	"github.com/dalaba/dalaba/cloud/plan"
	"github.com/dalaba/dalaba/cloud/store"
	"github.com/dalaba/dalaba/protocol"
)

// runJobs runs plan jobs through pl until the test ends.
func runJobs(t *testing.T, pl *plan.Planner) *bulk.Jobs {
	t.Helper()
	jobs, err := bulk.New(bulk.Deps{Logger: slog.New(slog.DiscardHandler), Planner: pl})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- jobs.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("jobs: %v", err)
		}
	})
	return jobs
}

// setUpVillages gives each box a horn in one zone, as installed.
func setUpVillages(t *testing.T, e *env, boxes []store.Box) {
	t.Helper()
	for _, b := range boxes {
		if err := e.st.UpdatePlan(t.Context(), b.ID, func(p *store.Plan) error {
			p.Broadcast.Speakers = []protocol.Speaker{{ID: "east", Driver: protocol.DriverRTP, Addr: "192.168.1.20:5004"}}
			p.Broadcast.Zones = []protocol.Zone{{ID: "all", Speakers: []string{"east"}}}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
}

// waitJob polls the job until it has ended.
func waitJob(t *testing.T, e *env, tok, url string) jobJSON {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		var j jobJSON
		if code := e.call(t, tok, "GET", url, "", &j); code != 200 {
			t.Fatalf("GET %s: %d", url, code)
		}
		if j.State == bulk.Done {
			return j
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("job %s did not end", url)
	return jobJSON{}
}

// TestPlanJobToATownship: an operator puts one schedule on every village
// of a township in one request; the job says how each box fared, each
// box's signed desired state carries the schedule, and the other
// township's boxes are untouched.
func TestPlanJobToATownship(t *testing.T) {
	e := newEnv(t)
	boxes := manyBoxes(t, e, 60) // v000…v059, even ones in 东山镇
	setUpVillages(t, e, boxes)
	clip := uploadClip(t, e)
	op := e.tokens[store.RoleOperator]
	body := fmt.Sprintf(`{"place":"东山镇","schedule":{"id":"flood","name":"防汛通知","media":[%q],"rule":{"at":["08:00"]}}}`, clip)
	var j jobJSON
	if code := e.call(t, op, "POST", "/api/v1/plan-jobs", body, &j); code != 202 || j.Total != 30 || j.ID == "" {
		t.Fatalf("POST plan-jobs: %d %+v", code, j.Job)
	}
	j = waitJob(t, e, op, "/api/v1/plan-jobs/"+j.ID)
	if j.Done != 30 || j.Failed != 0 || j.By != "operator" || j.Place != "东山镇" {
		t.Fatalf("job ended %+v", j.Job)
	}
	for i, b := range boxes {
		d, err := e.st.GetDesired(t.Context(), b.ID)
		has := err == nil && strings.Contains(string(d.Payload), "flood")
		if i%2 == 0 {
			k := slices.IndexFunc(j.Boxes, func(x jobBox) bool { return x.ID == b.ID })
			if !has || k < 0 || j.Boxes[k].State != bulk.Done || j.Boxes[k].Rev != d.Rev {
				t.Errorf("%s: desired state with the schedule %t, job says %+v, stored rev %d", b.ID, has, j.Boxes[max(k, 0)], d.Rev)
			}
		} else if has {
			t.Errorf("%s of 西河镇 got the schedule", b.ID)
		}
	}
	var list struct{ Jobs []jobJSON }
	if e.call(t, e.tokens[store.RoleViewer], "GET", "/api/v1/plan-jobs", "", &list); len(list.Jobs) != 1 || list.Jobs[0].ID != j.ID {
		t.Errorf("job list %+v", list)
	}

	// Taken out again from two chosen boxes; a box without a plan fails
	// alone, with a code and no error chain.
	var j2 jobJSON
	if code := e.call(t, op, "POST", "/api/v1/plan-jobs", `{"boxes":["v000","v002","v001"],"delete_schedule":"flood"}`, &j2); code != 202 {
		t.Fatalf("POST plan-jobs with boxes: %d", code)
	}
	j2 = waitJob(t, e, op, "/api/v1/plan-jobs/"+j2.ID)
	if j2.Done != 3 || !slices.Equal(idsOfJob(j2), []string{"v000", "v001", "v002"}) {
		t.Errorf("removal job %+v", j2)
	}
	for _, id := range []string{"v000", "v002"} {
		if d, _ := e.st.GetDesired(t.Context(), id); strings.Contains(string(d.Payload), "flood") {
			t.Errorf("%s still has the schedule", id)
		}
	}
}

func idsOfJob(j jobJSON) []string {
	var out []string
	for _, b := range j.Boxes {
		out = append(out, b.ID)
	}
	return out
}

// uploadClip uploads a short WAV and returns its sha256.
func uploadClip(t *testing.T, e *env) string {
	t.Helper()
	return e.upload(t, "防汛通知.wav", wavBytes(t, 1)).SHA256
}

func TestPlanJobRefused(t *testing.T) {
	e := newEnv(t)
	manyBoxes(t, e, 3)
	op := e.tokens[store.RoleOperator]
	sched := `"schedule":{"id":"a","media":["` + strings.Repeat("0", 64) + `"],"rule":{"at":["08:00"]}}`
	for _, c := range []struct{ body, code string }{
		{`{` + sched + `}`, "job.invalid"},                                           // neither place nor boxes
		{`{"place":"东山镇","boxes":["v000"],` + sched + `}`, "job.invalid"},            // both
		{`{"place":"北岭镇",` + sched + `}`, "job.invalid"},                             // no box there
		{`{"boxes":["v000","nobody"],` + sched + `}`, "job.invalid"},                 // unknown box
		{`{"boxes":["v000"]}`, "job.invalid"},                                        // no change
		{`{"boxes":["v000"],"delete_schedule":"Bad/Id"}`, "job.invalid"},             // bad id
		{`{"boxes":["v000"],"announcement":{"name":"a","text":"b"}}`, "job.invalid"}, // announcement without schedule
		{`{"boxes":["v000"],"colour":"red"}`, "request.bad_json"},
	} {
		var p Problem
		code, b, _ := e.raw(t, op, "POST", "/api/v1/plan-jobs", "application/json", []byte(c.body), nil)
		if json.Unmarshal(b, &p); code != 400 || string(p.Code) != c.code {
			t.Errorf("%s: %d %s, want 400 %s", c.body, code, b, c.code)
		}
	}
	var list struct{ Jobs []jobJSON }
	if e.call(t, op, "GET", "/api/v1/plan-jobs", "", &list); len(list.Jobs) != 0 {
		t.Errorf("refused jobs were queued: %+v", list.Jobs)
	}
	if code := e.call(t, e.tokens[store.RoleViewer], "POST", "/api/v1/plan-jobs", `{"boxes":["v000"],"delete_schedule":"a"}`, nil); code != 403 {
		t.Errorf("viewer's plan job: %d, want 403", code)
	}
	if code := e.call(t, op, "GET", "/api/v1/plan-jobs/nope", "", nil); code != 404 {
		t.Errorf("unknown job: %d, want 404", code)
	}
}
