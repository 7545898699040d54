package claim

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/dalaba/dalaba/protocol"
)

func TestNewCodeIsWrittenInTheAlphabet(t *testing.T) {
	seen := map[string]bool{}
	for range 200 {
		c, err := NewCode(nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(c) != 9 || c[4] != '-' {
			t.Fatalf("%q is not XXXX-XXXX", c)
		}
		if strings.ContainsAny(c, "0O1I") {
			t.Fatalf("%q holds a symbol that is misread on paper", c)
		}
		if p, err := Parse(c); err != nil || p != c {
			t.Fatalf("Parse(%q) = %q, %v", c, p, err)
		}
		if seen[c] {
			t.Fatalf("%q made twice in 200", c)
		}
		seen[c] = true
	}
	if len(Alphabet) != 32 {
		t.Fatalf("alphabet has %d symbols, want 32", len(Alphabet))
	}
}

var parseCases = []struct {
	in, want string
}{
	{"ABCD-EFGH", "ABCD-EFGH"},
	{"abcd efgh", "ABCD-EFGH"},
	{" 2345-6789\n", "2345-6789"},
	{"23456789", "2345-6789"},
	{"ABCD-EFG", ""},   // short
	{"ABCD-EFGHJ", ""}, // long
	{"ABCD-EFG0", ""},  // zero
	{"ABCD-EFGO", ""},  // letter O
	{"ABCD-EFG1", ""},  // one
	{"ABCD-EFGI", ""},  // letter I
	{"ABCD-EFG号", ""},  // not ASCII
	{"", ""},
}

func TestParse(t *testing.T) {
	for _, c := range parseCases {
		got, err := Parse(c.in)
		if c.want == "" {
			if !errors.Is(err, ErrCode) {
				t.Errorf("Parse(%q) = %q, %v; want ErrCode", c.in, got, err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("Parse(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, c := range parseCases {
		f.Add(c.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := Parse(s)
		if err != nil {
			return
		}
		if again, err := Parse(c); err != nil || again != c {
			t.Fatalf("Parse(%q) = %q, but Parse of that = %q, %v", s, c, again, err)
		}
	})
}

func answer(t *testing.T) Answer {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return Answer{V: Version, BoxID: "dongshan-3", Name: "东山村", BrokerURL: "tls://township.example.cn:8883", Username: "dongshan-3",
		Password: "secret", TownshipKey: protocol.EncodePublicKey(pub), MediaURL: "https://township.example.cn/media/", IssuedAt: time.Unix(1_800_000_000, 0).UTC()}
}

func TestDeriveDependsOnTheCodeOnly(t *testing.T) {
	a, b := Derive("ABCD-EFGH"), Derive("ABCD-EFGH")
	if a != b {
		t.Fatal("one code gave two keys")
	}
	if Derive("ABCD-EFGJ") == a {
		t.Fatal("two codes gave one key")
	}
	if a.Proof == a.Seal {
		t.Fatal("the proof is the sealing key")
	}
}

func TestSealedAnswerOpensWithItsCodeAlone(t *testing.T) {
	k := Derive("ABCD-EFGH")
	a := answer(t)
	sealed, err := Seal(k.Seal, a)
	if err != nil {
		t.Fatal(err)
	}
	body := EncodeSealed(sealed)
	got, err := Open(k.Seal, body)
	if err != nil {
		t.Fatal(err)
	}
	if got != a {
		t.Fatalf("opened %+v, sealed %+v", got, a)
	}
	if _, err := Open(Derive("ABCD-EFGJ").Seal, body); !errors.Is(err, ErrSealed) {
		t.Fatalf("another code opened it: %v", err)
	}
	if bytes.Contains(body, []byte("secret")) || bytes.Contains(body, []byte("dongshan")) {
		t.Fatal("the answer is readable without the code")
	}
}

func TestAlteredAnswerIsRefused(t *testing.T) {
	k := Derive("ABCD-EFGH")
	sealed, err := Seal(k.Seal, answer(t))
	if err != nil {
		t.Fatal(err)
	}
	for i := range sealed {
		bad := bytes.Clone(sealed)
		bad[i] ^= 0x20
		if _, err := Open(k.Seal, EncodeSealed(bad)); !errors.Is(err, ErrSealed) {
			t.Fatalf("byte %d changed: %v, want ErrSealed", i, err)
		}
	}
	if _, err := Open(k.Seal, EncodeSealed(sealed[:len(sealed)-1])); !errors.Is(err, ErrSealed) {
		t.Fatalf("truncated: %v", err)
	}
}

func TestAnswerIsValidated(t *testing.T) {
	a := answer(t)
	a.TownshipKey = "nope"
	if _, err := Seal(Derive("ABCD-EFGH").Seal, a); err == nil {
		t.Fatal("an answer without a township key was sealed")
	}
}

func TestDecodeRequest(t *testing.T) {
	k := Derive("ABCD-EFGH")
	b, _ := json.Marshal(NewRequest(k, "dongshan-3"))
	r, proof, err := DecodeRequest(b)
	if err != nil || r.Village != "dongshan-3" || !bytes.Equal(proof, k.Proof[:]) {
		t.Fatalf("%+v %x %v", r, proof, err)
	}
	for name, body := range map[string]string{
		"unknown field": `{"v":1,"proof":"` + r.Proof + `","code":"ABCD-EFGH"}`,
		"short proof":   `{"v":1,"proof":"` + base64.RawURLEncoding.EncodeToString([]byte("short")) + `"}`,
		"version":       `{"v":2,"proof":"` + r.Proof + `"}`,
		"bad village":   `{"v":1,"proof":"` + r.Proof + `","village":"A/B"}`,
		"trailing":      `{"v":1,"proof":"` + r.Proof + `"}{}`,
	} {
		if _, _, err := DecodeRequest([]byte(body)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func FuzzDecodeRequest(f *testing.F) {
	b, _ := json.Marshal(NewRequest(Derive("ABCD-EFGH"), "v-1"))
	f.Add(b)
	f.Add([]byte(`{"v":1,"proof":""}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, p, err := DecodeRequest(b)
		if err == nil && (len(p) != 32 || r.V != Version) {
			t.Fatalf("accepted %+v with a %d-byte proof", r, len(p))
		}
	})
}

func FuzzOpen(f *testing.F) {
	k := Derive("ABCD-EFGH")
	a := Answer{V: Version, BoxID: "b", BrokerURL: "tcp://x:1", Username: "b", Password: "p",
		TownshipKey: protocol.EncodePublicKey(make(ed25519.PublicKey, ed25519.PublicKeySize))}
	sealed, err := Seal(k.Seal, a)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(EncodeSealed(sealed))
	f.Add([]byte(`{"v":1,"sealed":""}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := Open(k.Seal, b)
		if err == nil && got.Validate() != nil {
			t.Fatalf("opened an invalid answer %+v", got)
		}
	})
}
