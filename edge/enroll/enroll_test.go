package enroll

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dalaba/dalaba/edge/config"
	"github.com/dalaba/dalaba/protocol"
	"github.com/dalaba/dalaba/protocol/claim"
)

const code = "ABCD-EFGH"

// township answers enrollment as the township does for code, sealing a
// for it, after alter has had its way with the sealed bytes.
func township(t *testing.T, a claim.Answer, alter func([]byte) []byte) *httptest.Server {
	t.Helper()
	k := claim.Derive(code)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != Path || r.Method != http.MethodPost {
			http.NotFound(w, r)
			return
		}
		b, _ := io.ReadAll(r.Body)
		req, proof, err := claim.DecodeRequest(b)
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			w.Write([]byte(`{"error":"bad","code":"claim.invalid"}`))
			return
		}
		if string(proof) != string(k.Proof[:]) {
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte(`{"error":"unknown claim code","code":"claim.unknown"}`))
			return
		}
		if req.Village != "" && req.Village != a.BoxID {
			w.WriteHeader(http.StatusForbidden)
			w.Write([]byte(`{"error":"for another village","code":"claim.wrong_village"}`))
			return
		}
		sealed, err := claim.Seal(k.Seal, a)
		if err != nil {
			t.Error(err)
			return
		}
		if alter != nil {
			sealed = alter(sealed)
		}
		w.Write(claim.EncodeSealed(sealed))
	}))
	t.Cleanup(srv.Close)
	return srv
}

func answerFor(t *testing.T, box string) claim.Answer {
	pub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return claim.Answer{V: claim.Version, BoxID: box, Name: "东山村", BrokerURL: "tcp://127.0.0.1:1883", Username: box, Password: "s3cret",
		TownshipKey: protocol.EncodePublicKey(pub), MediaURL: "http://127.0.0.1:8080/media/"}
}

func TestEnrollWritesAValidConfigOnlyItsOwnerReads(t *testing.T) {
	a := answerFor(t, "dongshan-3")
	srv := township(t, a, nil)
	path := filepath.Join(t.TempDir(), "etc", "edge.yaml")
	res, err := Enroll(t.Context(), Options{Township: srv.URL, Code: "abcd efgh", Village: "dongshan-3", ConfigPath: path, DataDir: "/srv/box"})
	if err != nil {
		t.Fatal(err)
	}
	if res.BoxID != "dongshan-3" {
		t.Fatalf("result %+v", res)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("config %v, mode %v; want 0600", err, fi.Mode())
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("written config is not valid: %v", err)
	}
	if cfg.BoxID != "dongshan-3" || cfg.Broker.Password != "s3cret" || cfg.Broker.Username != "dongshan-3" || cfg.TownshipKey != a.TownshipKey ||
		cfg.DataDir != "/srv/box" || cfg.Media.URL != a.MediaURL {
		t.Fatalf("config %+v", cfg)
	}
	left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".enroll-*"))
	if len(left) != 0 {
		t.Fatalf("temporary files left: %v", left)
	}
	// Enrolled, it refuses to enroll again over its identity.
	if _, err := Enroll(t.Context(), Options{Township: srv.URL, Code: code, ConfigPath: path}); !errors.Is(err, ErrExists) {
		t.Fatalf("enrolling over an identity: %v", err)
	}
}

func TestEnrollKeepsTheSettingsOfAConfigWithoutIdentity(t *testing.T) {
	srv := township(t, answerFor(t, "v-1"), nil)
	path := filepath.Join(t.TempDir(), "edge.yaml")
	base := "# the package's example\nbox_id: \"\"\nbroker:\n  url: \"\"\n  keepalive: 45s\nrelay:\n  listen: 127.0.0.1:0 # no fixed port\n"
	if err := os.WriteFile(path, []byte(base), 0o640); err != nil {
		t.Fatal(err)
	}
	if _, err := Enroll(t.Context(), Options{Township: srv.URL, Code: code, ConfigPath: path}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	cfg, err := config.Load(path)
	if err != nil || cfg.Validate() != nil {
		t.Fatalf("merged config:\n%s\n%v %v", b, err, cfg.Validate())
	}
	if cfg.BoxID != "v-1" || cfg.Relay.Listen != "127.0.0.1:0" || cfg.Broker.KeepAlive.String() != "45s" || !strings.Contains(string(b), "# no fixed port") {
		t.Fatalf("merged config lost the base's settings:\n%s", b)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o640 {
		t.Fatalf("mode %v, want the replaced file's 0640", fi.Mode())
	}
}

func TestRefusedOrAlteredAnswersWriteNothing(t *testing.T) {
	a := answerFor(t, "v-1")
	flip := func(b []byte) []byte { b[len(b)-3] ^= 1; return b }
	other := func([]byte) []byte {
		s, _ := claim.Seal(claim.Derive("2345-6789").Seal, a)
		return s
	}
	for name, c := range map[string]struct {
		srv     *httptest.Server
		code    string
		village string
		check   func(error) bool
	}{
		"unknown code": {township(t, a, nil), "2345-6789", "", func(err error) bool {
			r, ok := errors.AsType[*RefusedError](err)
			return ok && r.Code == "claim.unknown" && strings.Contains(r.Sentence(), "no such claim code")
		}},
		"wrong village": {township(t, a, nil), code, "v-2", func(err error) bool {
			r, ok := errors.AsType[*RefusedError](err)
			return ok && r.Code == "claim.wrong_village"
		}},
		"altered answer":           {township(t, a, flip), code, "", func(err error) bool { return errors.Is(err, claim.ErrSealed) }},
		"answer for another code":  {township(t, a, other), code, "", func(err error) bool { return errors.Is(err, claim.ErrSealed) }},
		"not a code":               {township(t, a, nil), "ABCD-EFG0", "", func(err error) bool { return errors.Is(err, claim.ErrCode) }},
		"no township at that path": {httptest.NewServer(http.NotFoundHandler()), code, "", func(err error) bool { return !Transient(err) }},
	} {
		path := filepath.Join(t.TempDir(), "edge.yaml")
		_, err := Enroll(t.Context(), Options{Township: c.srv.URL, Code: c.code, Village: c.village, ConfigPath: path})
		if err == nil || !c.check(err) {
			t.Errorf("%s: %v", name, err)
		}
		if _, serr := os.Stat(path); !errors.Is(serr, os.ErrNotExist) {
			t.Errorf("%s: a config was written", name)
		}
	}
}

func TestTransient(t *testing.T) {
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusBadGateway) }))
	defer down.Close()
	_, err := Enroll(t.Context(), Options{Township: down.URL, Code: code, ConfigPath: filepath.Join(t.TempDir(), "e.yaml")})
	if !Transient(err) {
		t.Errorf("a 502 from a proxy: %v is not transient", err)
	}
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()
	_, err = Enroll(t.Context(), Options{Township: gone.URL, Code: code, ConfigPath: filepath.Join(t.TempDir(), "e.yaml")})
	if !Transient(err) {
		t.Errorf("no township listening: %v is not transient", err)
	}
	if Transient(&RefusedError{Code: "claim.used"}) {
		t.Error("a refusal is transient")
	}
}

func TestTownshipURL(t *testing.T) {
	for in, ok := range map[string]bool{
		"https://township.example.cn":  true,
		"https://township.example.cn/": true,
		"http://127.0.0.1:8080":        true,
		"http://localhost:8080":        true,
		"http://township.example.cn":   false,
		"ftp://x":                      false,
		"township.example.cn":          false,
	} {
		if _, err := townshipURL(in); (err == nil) != ok {
			t.Errorf("townshipURL(%q): %v, want ok %t", in, err, ok)
		}
	}
}

func TestReadClaimFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.txt")
	os.WriteFile(good, []byte("township: https://t.example.cn\ncode: ABCD-EFGH\nvillage: v-1\n"), 0o644)
	if c, err := ReadClaimFile(good); err != nil || c.Code != "ABCD-EFGH" || c.Village != "v-1" {
		t.Fatalf("%+v %v", c, err)
	}
	for name, body := range map[string]string{"no code": "township: https://t\n", "unknown key": "township: https://t\ncode: X\npin: 1\n"} {
		p := filepath.Join(dir, base64.RawURLEncoding.EncodeToString([]byte(name)))
		os.WriteFile(p, []byte(body), 0o644)
		if _, err := ReadClaimFile(p); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
