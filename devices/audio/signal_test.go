package audio

import (
	"bytes"
	"encoding/binary"
	"math"
	"testing"
)

// tone is amp·sin(2πft), mono, seconds long.
func tone(rate int, freq, amp, seconds float64) PCM {
	p := PCM{Rate: rate, Channels: 1, Samples: make([]int16, int(float64(rate)*seconds))}
	for i := range p.Samples {
		p.Samples[i] = int16(amp * math.Sin(2*math.Pi*freq*float64(i)/float64(rate)))
	}
	return p
}

func rms(s []int16) float64 {
	var sum float64
	for _, v := range s {
		sum += float64(v) * float64(v)
	}
	return math.Sqrt(sum / float64(max(len(s), 1)))
}

// middle drops the first and last quarter, where filters see the clip's
// edges.
func middle(s []int16) []int16 { return s[len(s)/4 : 3*len(s)/4] }

func correlation(a, b []int16) float64 {
	n := min(len(a), len(b))
	var ab, aa, bb float64
	for i := range n {
		ab += float64(a[i]) * float64(b[i])
		aa += float64(a[i]) * float64(a[i])
		bb += float64(b[i]) * float64(b[i])
	}
	return ab / math.Sqrt(aa*bb)
}

func encodeWAV(t testing.TB, p PCM) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := EncodeWAV(&b, p); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// chunk is one RIFF chunk; claim, when not -1, is the size its header
// states instead of the body's length.
type chunk struct {
	id    string
	body  []byte
	claim int64
}

func ck(id string, body []byte) chunk { return chunk{id: id, body: body, claim: -1} }

// riff builds a RIFF/WAVE file from chunks, padding odd bodies.
func riff(chunks ...chunk) []byte {
	var body bytes.Buffer
	body.WriteString("WAVE")
	for _, c := range chunks {
		body.WriteString(c.id)
		size := uint32(len(c.body))
		if c.claim >= 0 {
			size = uint32(c.claim)
		}
		body.Write(binary.LittleEndian.AppendUint32(nil, size))
		body.Write(c.body)
		if len(c.body)%2 == 1 && c.claim < 0 {
			body.WriteByte(0)
		}
	}
	out := []byte("RIFF")
	out = binary.LittleEndian.AppendUint32(out, uint32(body.Len()))
	return append(out, body.Bytes()...)
}

// fmtBody is a plain fmt chunk body with consistent derived fields.
func fmtBody(code uint16, channels, rate, bits int) []byte {
	le := binary.LittleEndian
	b := le.AppendUint16(nil, code)
	b = le.AppendUint16(b, uint16(channels))
	b = le.AppendUint32(b, uint32(rate))
	b = le.AppendUint32(b, uint32(rate*channels*bits/8))
	b = le.AppendUint16(b, uint16(channels*bits/8))
	return le.AppendUint16(b, uint16(bits))
}

// extFmtBody is a WAVE_FORMAT_EXTENSIBLE fmt body with sub-format sub.
func extFmtBody(sub uint16, channels, rate, bits int) []byte {
	le := binary.LittleEndian
	b := fmtBody(wavExtensible, channels, rate, bits)
	b = le.AppendUint16(b, 22)           // cbSize
	b = le.AppendUint16(b, uint16(bits)) // valid bits
	b = le.AppendUint32(b, 4)            // channel mask: front centre
	b = le.AppendUint16(b, sub)
	return append(b, wavSubtypeTail...)
}
