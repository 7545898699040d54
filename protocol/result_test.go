package protocol

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// A result that is not OK carries a machine-readable code beside its
// error; the decoder takes the codes it knows and any later snake_case
// one, and refuses what no box sends.
func TestCommandResultCodes(t *testing.T) {
	for _, code := range []string{CodeExpired, CodeUnknownCommand, CodeInvalidArgs, CodeBusy, CodeFailed, "some_later_code"} {
		p := []byte(`{"v":1,"id":"c-1","box_id":"village-1","ok":false,"code":"` + code + `","error":"x"}`)
		r, err := DecodeCommandResult("village-1", p)
		if err != nil || r.Code != code || r.OK {
			t.Errorf("code %q: %+v, %v", code, r, err)
		}
	}
	bad := []string{
		`{"v":1,"id":"c-1","box_id":"village-1","ok":true,"code":"expired"}`,
		`{"v":1,"id":"c-1","box_id":"village-1","ok":false,"code":"Expired"}`,
		`{"v":1,"id":"c-1","box_id":"village-1","ok":false,"code":"_x"}`,
		`{"v":1,"id":"c-1","box_id":"village-1","ok":false,"code":"not expired"}`,
		`{"v":1,"id":"c-1","box_id":"village-1","ok":false,"code":"` + string(bytes.Repeat([]byte("x"), MaxResultCodeLen+1)) + `"}`,
	}
	for _, p := range bad {
		checkReason(t, func() error { _, err := DecodeCommandResult("village-1", []byte(p)); return err }(), ReasonInvalid)
	}
}

// TestGoldenExpiredResult pins the wire form of a coded result, as
// TestGolden does for the others.
func TestGoldenExpiredResult(t *testing.T) {
	got, err := Marshal(KindCmdResult, CommandResult{V: 1, ID: "c-1", BoxID: "village-1", Code: CodeExpired,
		Error: "the command expired before the box carried it out"})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", "cmd_result_expired.v1.json")
	if *update {
		if err := os.WriteFile(path, append(got, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./protocol -update to create)", err)
	}
	if !bytes.Equal(bytes.TrimSpace(want), got) {
		t.Errorf("changed:\n got %s\nwant %s", got, want)
	}
	if _, err := DecodeCommandResult("village-1", got); err != nil {
		t.Errorf("the golden result does not decode: %v", err)
	}
}
