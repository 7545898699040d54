package e2e

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/dalaba/dalaba/edge/clock/clocktest"
	"github.com/dalaba/dalaba/internal/testenv"
	"github.com/dalaba/dalaba/protocol"
)

// BenchmarkPublish30EntryList measures a village's 30-entry red and black
// list from "publish" to "ready on the box": the text rendered, spoken by
// espeak-ng, stored, compiled into the box's signed desired state, sent
// over MQTT, and the audio downloaded, verified and cached by the box. The
// entries are written and approved before the timer starts. It reports
// the spoken length and the township service's resident memory after.
func BenchmarkPublish30EntryList(b *testing.B) {
	testenv.Tool(b, "espeak-ng", "apt-get install espeak-ng")
	dataDir := b.TempDir()
	addUsers(b, dataDir)
	c := startCloud(b, cloudOpts{dataDir: dataDir, config: "lists:\n  notice_days: 0\n"}) // published at once
	clerk, rev1, rev2 := c.as(b, "会计"), c.as(b, "李评委"), c.as(b, "王评委")
	period := time.Now().In(time.FixedZone("CST", 8*3600)).Format("2006-01")
	var ms, audioS, rssMB float64
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		id := uniqueID(fmt.Sprintf("bench%d", i))
		cfg := inProcessEdgeConfig(b, c.addBox(b, id))
		stoppableEdge(b, cfg, clocktest.New(time.Now()))
		c.do(b, "PUT", "/api/v1/boxes/"+id+"/speakers/horn", protocol.Speaker{ID: "horn", Driver: protocol.DriverRTP, Addr: "127.0.0.1:9"}, nil, http.StatusOK)
		c.do(b, "PUT", "/api/v1/boxes/"+id+"/zones/square", map[string]any{"id": "square", "speakers": []string{"horn"}}, nil, http.StatusOK)
		v := "/api/v1/villages/" + id
		for h := range 30 {
			hid, pid := fmt.Sprintf("h%02d", h), fmt.Sprintf("p%02d", h)
			clerk.do(b, "POST", v+"/households", map[string]string{"id": hid, "head": surnames[h%len(surnames)] + "大山"}, nil, http.StatusCreated)
			clerk.do(b, "POST", v+"/persons", map[string]string{"id": pid, "name": surnames[h%len(surnames)] + "小明", "household": hid}, nil, http.StatusCreated)
			kind, category, reason := "red", "孝老爱亲", "悉心照料卧病在床的老人"
			if h%3 == 2 {
				kind, category, reason = "black", "人居环境整治", "门前乱堆杂物占用道路"
			}
			var e struct{ ID uint64 }
			clerk.do(b, "POST", v+"/entries", map[string]any{"kind": kind, "subject": map[string]string{"kind": "person", "id": pid},
				"category": category, "reason": reason, "period": period}, &e, http.StatusCreated)
			clerk.do(b, "POST", fmt.Sprintf("/api/v1/entries/%d/submit", e.ID), nil, nil, http.StatusOK)
			rev1.do(b, "POST", fmt.Sprintf("/api/v1/entries/%d/approve", e.ID), nil, nil, http.StatusOK)
			rev2.do(b, "POST", fmt.Sprintf("/api/v1/entries/%d/approve", e.ID), nil, nil, http.StatusOK)
		}
		b.StartTimer()
		start := time.Now()
		clerk.do(b, "POST", v+"/lists/"+period+"/publish", nil, nil, http.StatusOK)
		clip := listClip(b, c, id, period)
		eventually(b, 60*time.Second, "the box caches the list", func() bool {
			_, err := os.Stat(filepath.Join(cfg.DataDir, "media", clip.SHA256[:2], clip.SHA256))
			return err == nil
		})
		ms = float64(time.Since(start).Milliseconds())
		audioS = float64(clip.DurationMS) / 1000
		kb, err := vmRSS(c.cmd.Process.Pid)
		if err != nil {
			b.Fatal(err)
		}
		rssMB = float64(kb) / 1024
	}
	b.ReportMetric(ms, "ms-to-ready")
	b.ReportMetric(audioS, "audio-s")
	b.ReportMetric(rssMB, "cloud-RSS-MB")
}

var surnames = []string{"张", "王", "李", "赵", "刘", "陈", "杨", "黄", "周", "吴"}
