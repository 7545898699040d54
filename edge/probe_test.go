package edge

import (
	"log/slog"
	"net"
	"testing"

	"github.com/dalaba/dalaba/protocol"
)

// A camera nobody answers for is answered with the protocol's reason, not
// as a failed command: the township explains the reason.
func TestProbeAnswersTheReason(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	res := probeCamera(t.Context(), slog.New(slog.DiscardHandler), protocol.Command{ID: "c1"}, protocol.ProbeArgs{Camera: "gate", URL: "rtsp://" + addr + "/cam1", AllowLocalTargets: true})
	if res.Opened || res.Reason != protocol.ProbeUnreachable || res.Error == "" {
		t.Fatalf("probe of a closed port: %+v", res)
	}
	for _, r := range []string{"unreachable", "timeout", "unauthorized", "not_found", "no_video", "failed", "something new"} {
		want := r
		if r == "something new" {
			want = protocol.ProbeFailed
		}
		if got := probeReason(r); got != want {
			t.Errorf("relay reason %q is %q to the township, want %q", r, got, want)
		}
	}
}
