package e2e

import (
	"bytes"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/dalaba/dalaba/devices/audio"
	"github.com/dalaba/dalaba/protocol"
)

// pagingTone is the fake microphone's pitch: not a frequency Chromium's
// own fake device beeps at, so hearing it proves the WAV came through.
const pagingTone = 600.0

// speechLikeWAV is pagingTone in 200 ms bursts with 100 ms gaps: steady
// enough to measure, broken enough that the browser's noise suppression
// takes it for a voice rather than a hum to remove.
func speechLikeWAV(t *testing.T, d time.Duration) []byte {
	t.Helper()
	const rate = 48000
	p := audio.PCM{Rate: rate, Channels: 1, Samples: make([]int16, int(d*rate/time.Second))}
	for i := range p.Samples {
		if (i*1000/rate)%300 < 200 {
			p.Samples[i] = int16(12000 * math.Sin(2*math.Pi*pagingTone*float64(i)/rate))
		}
	}
	var b bytes.Buffer
	if err := audio.EncodeWAV(&b, p); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// power is the signal's power at hz (Goertzel), per sample.
func power(s []int16, rate int, hz float64) float64 {
	w := 2 * math.Pi * hz / float64(rate)
	c := 2 * math.Cos(w)
	var s1, s2 float64
	for _, v := range s {
		s0 := float64(v) + c*s1 - s2
		s2, s1 = s1, s0
	}
	return (s1*s1 + s2*s2 - c*s1*s2) / float64(len(s)*len(s))
}

// TestConsolePaging pages through the console with Chromium's fake
// microphone playing a WAV file: the browser offers G.711 over WebRTC,
// the township carries the offer to the box over MQTT, and the box
// forwards the frames to the simulated RTP horn, which hears the file's
// tone. Hanging up ends the page, and its play-log entry reaches the
// township at paging priority.
func TestConsolePaging(t *testing.T) {
	wav := filepath.Join(t.TempDir(), "mic.wav")
	if err := os.WriteFile(wav, speechLikeWAV(t, 3*time.Second), 0o644); err != nil {
		t.Fatal(err)
	}
	horn := startSpeakerSim(t)
	c := startCloud(t, cloudOpts{})
	id := uniqueID("page")
	startEdge(t, writeEdgeConfig(t, c.addBox(t, id)), t.TempDir())
	eventually(t, 15*time.Second, "box online", func() bool { return c.box(t, id).Online })
	c.do(t, "PUT", "/api/v1/boxes/"+id+"/speakers/horn",
		protocol.Speaker{ID: "horn", Driver: protocol.DriverRTP, Addr: horn.Addr().String(), Codec: "PCMA"}, nil, http.StatusOK)
	var put struct {
		DesiredRev uint64 `json:"desired_rev"`
	}
	c.do(t, "PUT", "/api/v1/boxes/"+id+"/zones/square", protocol.Zone{ID: "square", Name: "广场", Speakers: []string{"horn"}}, &put, http.StatusOK)
	eventually(t, 15*time.Second, "box applies the zone", func() bool { return c.box(t, id).AppliedRev == put.DesiredRev })

	b := newChrome(t, c, 1100, 800, 90*time.Second, chromedp.Flag("use-file-for-fake-audio-capture", wav))
	b.signIn(t, "admin", adminPassword)
	b.run(t, "open the paging page", chromedp.Navigate(b.base+"/paging"), chromedp.WaitVisible(chromedp.CSS(`#paging-start`)))
	eval[bool](t, b, `(() => { const s = document.getElementById("paging-box"); s.value = "`+id+`"; s.dispatchEvent(new Event("change")); return true; })()`)
	b.poll(t, 10*time.Second, "the village's zones are listed", `document.querySelector('#paging-zones input[value="square"]') !== null`)
	heardBefore := len(horn.Audio().Samples)
	b.run(t, "start paging", chromedp.Click(chromedp.CSS(`#paging-start`)))
	b.poll(t, 20*time.Second, "the page goes on air", `document.getElementById("paging-status").dataset.state === "onair"`)
	if st := eval[string](t, b, `document.getElementById("paging-status").textContent`); st != "正在喊话 (PCMA)" {
		t.Errorf("status %q, want 正在喊话 (PCMA): the box chooses A-law", st)
	}

	// Two seconds of the microphone at the horn, at 8 kHz.
	eventually(t, 20*time.Second, "the horn hears the microphone", func() bool {
		return len(horn.Audio().Samples)-heardBefore >= 2*8000
	})
	b.screenshot(t, "paging")
	heard := heardSince(horn, heardBefore)
	at, off := power(heard.Samples, heard.Rate, pagingTone), power(heard.Samples, heard.Rate, 1000)
	t.Logf("horn heard %.1f s, rms %.0f; power at %.0f Hz %.3g, at 1 kHz %.3g", float64(len(heard.Samples))/float64(heard.Rate), rms(heard.Samples), pagingTone, at, off)
	if rms(heard.Samples) < 300 || at < 20*off {
		t.Fatalf("the horn did not hear the microphone's %.0f Hz tone (rms %.0f, %.3g vs %.3g at 1 kHz)", pagingTone, rms(heard.Samples), at, off)
	}

	b.run(t, "hang up", chromedp.Click(chromedp.CSS(`#paging-stop`)))
	b.poll(t, 10*time.Second, "the page ends", `document.getElementById("paging-status").dataset.state === "ended"`)
	eventually(t, 20*time.Second, "the page's play-log entry at the township", func() bool {
		played, _ := playLog(t, c.events(t, id))
		for _, p := range played {
			if strings.HasPrefix(p.ItemID, "page:") && p.Priority == protocol.PlayPaging && len(p.Speakers) == 1 && p.Speakers[0] == "horn" {
				return true
			}
		}
		return false
	})
}
