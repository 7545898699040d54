package whep

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
)

var (
	testSPS = []byte{0x67, 0x64, 0x00, 0x28, 0xac}
	testPPS = []byte{0x68, 0xee, 0x3c, 0x80}
)

func pkt(seq uint16, ts uint32, marker bool, payload ...byte) *rtp.Packet {
	p := &rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: ts, Marker: marker}, Payload: payload}
	if err := p.SetExtension(1, []byte{1}); err != nil {
		panic(err)
	}
	return p
}

func seqs(ps []*rtp.Packet) []uint16 {
	var out []uint16
	for _, p := range ps {
		out = append(out, p.SequenceNumber)
	}
	return out
}

// TestFeedGatesOnIDR: nothing before an AU that has an IDR, and that AU
// whole, from its first packet.
func TestFeedGatesOnIDR(t *testing.T) {
	f := newFeed(false, [][]byte{testSPS, testPPS}, 1200)
	var sent []*rtp.Packet
	push := func(p *rtp.Packet) { sent = append(sent, f.push(p)...) }
	push(pkt(10, 0, false, 0x7c, 0x05, 1, 2))       // an IDR's tail, joined mid-AU
	push(pkt(11, 0, true, 0x7c, 0x45, 3))           // its end
	push(pkt(12, 3600, true, 0x41, 9))              // a P frame
	push(pkt(13, 7200, false, 0x67, 0x64, 0, 0x28)) // SPS
	push(pkt(14, 7200, false, 0x68, 0xee))          // PPS
	push(pkt(15, 7200, false, 0x7c, 0x85, 1))       // IDR start
	push(pkt(16, 7200, true, 0x7c, 0x45, 2))        // IDR end
	push(pkt(18, 10800, true, 0x41, 9))             // 17 was lost upstream
	if got := seqs(sent); len(got) != 5 || got[3]+1 != got[4]-1 {
		t.Fatalf("sent seqs %v; want 4 of the IDR AU then one after a hole", got)
	}
	if sent[0].Payload[0] != 0x67 || sent[0].Extension || sent[0].Extensions != nil {
		t.Errorf("first sent %+v; want the SPS, extensions stripped", sent[0])
	}
}

// TestFeedInjectsParameterSets: a stream without in-band SPS/PPS gets the
// description's ahead of its first IDR, numbered right before it.
func TestFeedInjectsParameterSets(t *testing.T) {
	f := newFeed(false, [][]byte{testSPS, testPPS}, 1200)
	var sent []*rtp.Packet
	for _, p := range []*rtp.Packet{
		pkt(100, 0, true, 0x41, 9),
		pkt(101, 3600, true, 0x65, 1, 2, 3),
		pkt(102, 7200, true, 0x41, 9),
	} {
		sent = append(sent, f.push(p)...)
	}
	if len(sent) != 4 || !bytes.Equal(sent[0].Payload, testSPS) || !bytes.Equal(sent[1].Payload, testPPS) || sent[2].Payload[0] != 0x65 {
		t.Fatalf("sent %d packets: %v", len(sent), sent)
	}
	for i, p := range sent {
		if p.SequenceNumber != sent[0].SequenceNumber+uint16(i) || (i < 3 && p.Timestamp != 3600) {
			t.Errorf("packet %d: seq %d ts %d", i, p.SequenceNumber, p.Timestamp)
		}
	}
	if sent[0].Marker || sent[1].Marker || !sent[2].Marker {
		t.Error("marker must be on the IDR only")
	}
}

// TestFeedSplits: packets above the payload limit become FU-A fragments
// that depacketise to the same NAL units.
func TestFeedSplits(t *testing.T) {
	big := make([]byte, 3000)
	big[0] = 0x65
	for i := 1; i < len(big); i++ {
		big[i] = byte(i)
	}
	// The same IDR as one single-NAL packet and as two FU-A fragments.
	fuA1 := append([]byte{0x7c, 0x85}, big[1:2000]...)
	fuA2 := append([]byte{0x7c, 0x45}, big[2000:]...)
	stap := []byte{24, 0, byte(len(testSPS))}
	stap = append(append(stap, testSPS...), 0, byte(len(testPPS)))
	stap = append(stap, testPPS...)
	for name, in := range map[string][]*rtp.Packet{
		"single NAL":  {pkt(1, 0, true, big...)},
		"FU-A":        {pkt(1, 0, false, fuA1...), pkt(2, 0, true, fuA2...)},
		"STAP-A+FU-A": {pkt(1, 0, false, stap...), pkt(2, 0, false, fuA1...), pkt(3, 0, true, fuA2...)},
	} {
		t.Run(name, func(t *testing.T) {
			f := newFeed(false, nil, 500)
			// A boundary first, so the AU is seen from its start.
			f.push(pkt(0, 0xffff, true, 0x41, 0))
			var out []*rtp.Packet
			for _, p := range in {
				out = append(out, f.push(p)...)
			}
			dep := &codecs.H264Packet{}
			var annex []byte
			for i, p := range out {
				if len(p.Payload) > 500 {
					t.Fatalf("payload of %d bytes", len(p.Payload))
				}
				if p.Marker != (i == len(out)-1) {
					t.Fatalf("marker on packet %d of %d", i, len(out))
				}
				if i > 0 && p.SequenceNumber != out[i-1].SequenceNumber+1 {
					t.Fatalf("seq %d after %d", p.SequenceNumber, out[i-1].SequenceNumber)
				}
				b, err := dep.Unmarshal(p.Payload)
				if err != nil {
					t.Fatal(err)
				}
				annex = append(annex, b...)
			}
			nals := splitAnnexB(annex)
			if !bytes.Equal(nals[len(nals)-1], big) {
				t.Fatalf("IDR rebuilt wrong: %d NALs, last %d bytes", len(nals), len(nals[len(nals)-1]))
			}
		})
	}
}

// TestFeedJoinsAtKeyframe: a viewer whose first packet starts an IDR's AU
// gets that IDR, not the next one.
func TestFeedJoinsAtKeyframe(t *testing.T) {
	for name, first := range map[string]*rtp.Packet{
		"SPS":       pkt(7, 0, false, 0x67, 0x64, 0, 0x28),
		"FU-A IDR":  pkt(7, 0, false, 0x7c, 0x85, 0x88),
		"STAP-A":    pkt(7, 0, false, 24, 0, 4, 0x67, 0x64, 0, 0x28, 0, 2, 0x68, 0xee),
		"mid-slice": pkt(7, 0, false, 0x7c, 0x85, 0x08), // first_mb_in_slice != 0
	} {
		f := newFeed(false, [][]byte{testSPS, testPPS}, 1200)
		got := len(f.push(first)) + len(f.push(pkt(8, 0, true, 0x7c, 0x45, 1)))
		if want := name != "mid-slice"; (got > 0) != want {
			t.Errorf("%s: sent %d packets; want some: %v", name, got, want)
		}
	}
}

// TestFeedRefragments: a camera whose FU-A fragments are a little too big
// for the path has its NAL units cut anew across its packets, not each
// packet in two: 2900 bytes in two packets of 1452 become three of at most
// 1400, which depacketise to the same NAL unit; fragments that fit go as
// they are.
func TestFeedRefragments(t *testing.T) {
	nal := make([]byte, 2901)
	nal[0] = 0x65
	for i := 1; i < len(nal); i++ {
		nal[i] = byte(i * 7)
	}
	f := newFeed(false, nil, 1400)
	f.push(pkt(0, 0xffff, true, 0x41, 0)) // a boundary first
	var out []*rtp.Packet
	out = append(out, f.push(pkt(1, 0, false, append([]byte{0x7c, 0x85}, nal[1:1451]...)...))...)
	out = append(out, f.push(pkt(2, 0, true, append([]byte{0x7c, 0x45}, nal[1451:]...)...))...)
	if len(out) != 3 {
		t.Fatalf("%d packets; want 3", len(out))
	}
	dep := &codecs.H264Packet{}
	var annex []byte
	for i, p := range out {
		if len(p.Payload) > 1400 || p.Marker != (i == 2) || (i > 0 && p.SequenceNumber != out[i-1].SequenceNumber+1) {
			t.Fatalf("packet %d: %d bytes, marker %v, seq %d", i, len(p.Payload), p.Marker, p.SequenceNumber)
		}
		b, err := dep.Unmarshal(p.Payload)
		if err != nil {
			t.Fatal(err)
		}
		annex = append(annex, b...)
	}
	if nals := splitAnnexB(annex); len(nals) != 1 || !bytes.Equal(nals[0], nal) {
		t.Fatal("the NAL unit was not rebuilt whole")
	}
	small := pkt(3, 3600, false, 0x7c, 0x81, 1, 2, 3)
	if got := f.push(small); len(got) != 1 || got[0] != small {
		t.Errorf("a fragment that fits: %v; want it passed through", got)
	}
}

// The SPS of a camera with B-frames says frames are reordered; once they
// are left out, the viewer is sent one that says none are, the rest of it
// the same.
func TestNoReorderSPS(t *testing.T) {
	var sps []byte
	for _, n := range splitAnnexB(fixture(t, "bframes-640x360.h264")) {
		if n[0]&0x1f == nalSPS {
			sps = n
			break
		}
	}
	var before, after h264.SPS
	if err := before.Unmarshal(sps); err != nil || before.VUI.BitstreamRestriction.MaxNumReorderFrames == 0 {
		t.Fatalf("the fixture's SPS: %v, %+v", err, before.VUI)
	}
	fixed := noReorderSPS(sps)
	if err := after.Unmarshal(fixed); err != nil {
		t.Fatal(err)
	}
	if after.VUI.BitstreamRestriction.MaxNumReorderFrames != 0 {
		t.Error("max_num_reorder_frames is still set")
	}
	after.VUI.BitstreamRestriction.MaxNumReorderFrames = before.VUI.BitstreamRestriction.MaxNumReorderFrames
	if !reflect.DeepEqual(before, after) {
		t.Errorf("more changed than the reorder count:\n%+v\n%+v", before, after)
	}
	if got := noReorderSPS(testSPS); !bytes.Equal(got, testSPS) {
		t.Error("an SPS that cannot be parsed was changed")
	}
	// In a STAP-A, as cameras aggregate them.
	f := newFeed(false, nil, 1400)
	f.noReorder = true
	stap := append([]byte{24, 0, byte(len(sps))}, sps...)
	stap = append(append(stap, 0, byte(len(testPPS))), testPPS...)
	if got := stapNALs(f.fixSPS(stap)); len(got) != 2 || !bytes.Equal(got[0], fixed) || !bytes.Equal(got[1], testPPS) {
		t.Errorf("STAP-A rewritten to %x", got)
	}
}
