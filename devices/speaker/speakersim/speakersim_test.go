package speakersim

import (
	"testing"

	"github.com/pion/rtp"
)

func packet(t *testing.T, seq uint16, ts uint32, marker bool, pt uint8) []byte {
	t.Helper()
	b, err := (&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: ts, Marker: marker, PayloadType: pt, SSRC: 42}, Payload: make([]byte, 160)}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestLossWrapAndJitter(t *testing.T) {
	s := &Sim{changed: make(chan struct{})}
	// 65533, 65534, 65535, 0, 2 (1 lost), arriving exactly on time.
	seqs := []uint16{65533, 65534, 65535, 0, 2}
	for i, q := range seqs {
		ts := uint32(1000 + 160*int(q-65533))
		s.handle(packet(t, q, ts, i == 0, 0), int64(5000+160*int(uint16(q-65533))))
	}
	st := s.Stats()
	if st.Packets != 5 || st.Lost != 1 || st.Spurts != 1 || st.SSRC != 42 {
		t.Fatalf("stats %+v", st)
	}
	if st.JitterMs != 0 {
		t.Errorf("on-time packets gave jitter %.3f ms", st.JitterMs)
	}
	// A packet 20 ms late adds |D|/16 = 1.25 ms of jitter.
	s.handle(packet(t, 3, uint32(1000+160*6), false, 0), int64(5000+160*6+160))
	if j := s.Stats().JitterMs; j < 1.24 || j > 1.26 {
		t.Errorf("jitter %.3f ms, want 1.25", j)
	}
	s.handle([]byte("not rtp"), 0)
	s.handle(packet(t, 4, 0, false, 96), 0)
	if st := s.Stats(); st.BadPackets != 2 || st.Packets != 6 {
		t.Errorf("bad packets %+v", st)
	}
	if got := len(s.Audio().Samples); got != 6*160 {
		t.Errorf("%d samples recorded, want %d", got, 6*160)
	}
}
