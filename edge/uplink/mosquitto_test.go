package uplink

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/dalaba/dalaba/internal/testenv"
)

// TestMosquitto runs the drain through the Mosquitto every developer
// machine and CI has (anonymous, 127.0.0.1:1883): under CI=true a missing
// one fails, elsewhere the test skips naming `apt-get install mosquitto`.
func TestMosquitto(t *testing.T) {
	addr := testenv.Mosquitto(t)
	url := "tcp://" + addr
	id := fmt.Sprintf("uplink-test-%016x", rand.Uint64()) // runs never share a session
	c := startCloud(t, url, id, true)
	b := startBox(t, url, id)
	seqs := b.appendN(t, 2000)
	eventually(t, 20*time.Second, "every event acknowledged through Mosquitto", func() bool { return b.ob.Stats().Backlog == 0 })
	if got := c.distinct(); got != len(seqs) {
		t.Fatalf("the cloud stored %d events, want %d", got, len(seqs))
	}
	eventually(t, 5*time.Second, "online status", func() bool { s, ok := c.lastStatus(); return ok && s.Online })
}
