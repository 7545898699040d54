package audio

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the fuzz seed corpora in testdata/fuzz from the named test cases")

// fuzzLimits keep each fuzz input cheap.
var fuzzLimits = Limits{MaxDuration: 20 * time.Second, MaxBytes: 1 << 20}

type seed struct {
	name string
	data []byte
}

// seeds are the starting corpora, by fuzz target: the named cases of the
// decoding tests and the fixtures. TestFuzzCorpus keeps testdata/fuzz in
// step with them.
func seeds(t testing.TB) map[string][]seed {
	var wav, mp3 []seed
	for _, c := range goodWAVs() {
		wav = append(wav, seed{"good " + c.name, c.file})
	}
	for _, c := range badWAVs() {
		wav = append(wav, seed{"bad " + c.name, c.file})
	}
	for _, f := range []string{"u8-mono-11k.wav", "mulaw-8k.wav", "float-8k.wav"} {
		wav = append(wav, seed{"fixture " + f, readFixture(t, f)})
	}
	voice := readFixture(t, "voice.mp3")
	mp3 = append(mp3, seed{"fixture voice.mp3", voice}, seed{"voice first frames", voice[:600]})
	for _, c := range badMP3s(t) {
		mp3 = append(mp3, seed{"bad " + c.name, c.file})
	}
	mixed := []seed{
		{"wav", wav[0].data},
		{"mp3", voice[:600]},
		{"text", []byte("not audio")},
		{"riff avi", []byte("RIFF\x04\x00\x00\x00AVI ")},
		{"sync only", []byte{0xFF, 0xFB}},
	}
	probe := append(append([]seed(nil), mixed...),
		seed{"wav data claims less than it carries", riff(ck("fmt ", fmtBody(wavPCM, 1, 8000, 16)), chunk{"data", make([]byte, 64), 16})},
		seed{"wav tags after the data", riff(ck("fmt ", fmtBody(wavPCM, 1, 8000, 8)), ck("data", []byte{1, 2, 3}), ck("LIST", []byte("INFO")))},
		seed{"voice", voice})
	return map[string][]seed{"FuzzDecodeWAV": wav, "FuzzDecodeMP3": mp3, "FuzzDecode": mixed, "FuzzProbe": probe}
}

func seedFile(s seed) (name string, content []byte) {
	name = strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-':
			return r
		case r >= 'A' && r <= 'Z':
			return r + 'a' - 'A'
		case r == ' ' || r == '.' || r == ',':
			return '-'
		}
		return -1
	}, strings.ReplaceAll(s.name, "μ", "mu"))
	return name, fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\n", s.data)
}

// TestFuzzCorpus checks that testdata/fuzz holds exactly the named seeds;
// go test -run TestFuzzCorpus -update rewrites it.
func TestFuzzCorpus(t *testing.T) {
	for target, list := range seeds(t) {
		dir := filepath.Join("testdata", "fuzz", target)
		want := map[string][]byte{}
		for _, s := range list {
			name, content := seedFile(s)
			if _, dup := want[name]; dup {
				t.Fatalf("%s: two seeds named %s", target, name)
			}
			want[name] = content
		}
		if *update {
			if err := os.RemoveAll(dir); err != nil {
				t.Fatal(err)
			}
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			for name, content := range want {
				if err := os.WriteFile(filepath.Join(dir, name), content, 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatalf("%v (run go test -run TestFuzzCorpus -update)", err)
		}
		var have []string
		for _, e := range entries {
			have = append(have, e.Name())
			got, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			if w, ok := want[e.Name()]; !ok {
				t.Errorf("%s/%s is no named seed (a crasher found by fuzzing belongs in a named test case)", target, e.Name())
			} else if string(w) != string(got) {
				t.Errorf("%s/%s is stale: run go test -run TestFuzzCorpus -update", target, e.Name())
			}
		}
		for name := range want {
			if !slices.Contains(have, name) {
				t.Errorf("%s/%s is missing: run go test -run TestFuzzCorpus -update", target, name)
			}
		}
	}
}

// checkDecoded holds for any input: a clear error wrapping a sentinel and
// no samples, or valid, bounded audio.
func checkDecoded(t *testing.T, p PCM, err error) {
	t.Helper()
	if err != nil {
		sentinels := []error{ErrUnknownFormat, ErrUnsupported, ErrTruncated, ErrMalformed, ErrTooLong}
		if !slices.ContainsFunc(sentinels, func(s error) bool { return errors.Is(err, s) }) {
			t.Fatalf("error %q wraps no sentinel", err)
		}
		if p.Samples != nil {
			t.Fatal("samples returned with an error")
		}
		return
	}
	if err := p.Validate(); err != nil {
		t.Fatalf("decoded an invalid clip: %v", err)
	}
	if p.Frames() == 0 || p.Duration() > fuzzLimits.MaxDuration {
		t.Fatalf("decoded %d frames, %s", p.Frames(), p.Duration())
	}
}

func FuzzDecodeWAV(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := DecodeWAV(b, fuzzLimits)
		checkDecoded(t, p, err)
		if err != nil {
			return
		}
		// Whatever was decoded survives a 16-bit round trip unchanged.
		q, err := DecodeWAV(encodeWAV(t, p), fuzzLimits)
		if err != nil || q.Rate != p.Rate || q.Channels != p.Channels || !slices.Equal(q.Samples, p.Samples) {
			t.Fatalf("re-encoded clip decodes differently: %v", err)
		}
	})
}

func FuzzDecodeMP3(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := DecodeMP3(b, fuzzLimits)
		checkDecoded(t, p, err)
		if err == nil && p.Channels != 2 {
			t.Fatalf("MP3 decoded to %d channels", p.Channels)
		}
	})
}

func FuzzProbe(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) { checkProbe(t, b, fuzzLimits) })
}

func FuzzDecode(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := Decode(b, fuzzLimits)
		checkDecoded(t, p, err)
		if Sniff(b) == FormatUnknown && !errors.Is(err, ErrUnknownFormat) {
			t.Fatalf("unsniffable input gave %v", err)
		}
	})
}
