package protocol

import (
	"crypto/ed25519"
	"errors"
	"testing"
	"time"
)

// Every decoder must answer any input with a value or a *RejectError, never a
// panic; what it accepts must re-encode within the topic's limit.

func FuzzDecodeEventBatch(f *testing.F) {
	for _, c := range batchCases {
		f.Add([]byte(c.payload))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		b, err := DecodeEventBatch("village-1", payload)
		if err != nil {
			if _, ok := errors.AsType[*RejectError](err); !ok {
				t.Fatalf("non-reject error %T: %v", err, err)
			}
			return
		}
		if b.BoxID != "village-1" || b.Floor == 0 || b.Floor > MaxSeq+1 || (b.Epoch != "" && ValidateEpoch(b.Epoch) != nil) {
			t.Fatalf("accepted %+v", b)
		}
		for i, e := range b.Events {
			if e.Seq > MaxSeq || (i > 0 && e.Seq <= b.Events[i-1].Seq) {
				t.Fatalf("accepted seqs out of order or above MaxSeq")
			}
		}
		if _, err := Marshal(KindEvents, b); err != nil {
			t.Fatalf("accepted batch does not re-encode: %v", err)
		}
	})
}

func FuzzDecodeSmall(f *testing.F) {
	f.Add(uint8(0), []byte(`{"v":1,"box_id":"village-1","online":true}`))
	for _, c := range ackCases {
		f.Add(uint8(1), []byte(c.payload))
	}
	f.Add(uint8(2), []byte(`{"v":1,"box_id":"village-1","applied_rev":3,"outbox_backlog":0,"at":"2026-11-01T08:00:00Z"}`))
	f.Add(uint8(3), []byte(`{"v":1,"id":"c-1","box_id":"village-1","ok":true}`))
	f.Add(uint8(3), []byte(`{"v":1,"id":"c-1","box_id":"village-1","ok":false,"code":"expired","error":"late"}`))
	f.Fuzz(func(t *testing.T, which uint8, payload []byte) {
		var err error
		switch which % 4 {
		case 0:
			_, err = DecodeStatus("village-1", payload)
		case 1:
			var a EventsAck
			a, err = DecodeEventsAck("village-1", payload)
			if err == nil && (a.Seq > MaxSeq || (a.Epoch == "") != (a.From == 0) || (a.Diverged && a.Epoch == "")) {
				t.Fatalf("accepted an ack the contract forbids: %+v", a)
			}
		case 2:
			_, err = DecodeReported("village-1", payload)
		case 3:
			_, err = DecodeCommandResult("village-1", payload)
		}
		if err != nil {
			if _, ok := errors.AsType[*RejectError](err); !ok {
				t.Fatalf("non-reject error %T: %v", err, err)
			}
		}
	})
}

func FuzzOpenSigned(f *testing.F) {
	key := testKey()
	pub := key.Public().(ed25519.PublicKey)
	d, _ := SignDesired(key, goodDesired())
	c, _ := SignCommand(key, goodCommand())
	f.Add(d)
	f.Add(c)
	f.Add([]byte(`{"v":1,"body":{},"sig":""}`))
	f.Add([]byte(`{"v":1,"body":null,"sig":"AAAA"}`))
	now := t0.Add(time.Second)
	f.Fuzz(func(t *testing.T, payload []byte) {
		if got, err := OpenDesired(pub, "village-1", payload, now); err == nil {
			// Only what the key signed can pass: the fuzzer cannot forge.
			if got.Rev != goodDesired().Rev {
				t.Fatalf("accepted a desired state the key never signed: %+v", got)
			}
		} else if _, ok := errors.AsType[*RejectError](err); !ok {
			t.Fatalf("non-reject error %T: %v", err, err)
		}
		if got, err := OpenCommand(pub, "village-1", payload, now); err == nil {
			if got.ID != goodCommand().ID {
				t.Fatalf("accepted a command the key never signed: %+v", got)
			}
		} else if _, ok := errors.AsType[*RejectError](err); !ok {
			t.Fatalf("non-reject error %T: %v", err, err)
		}
	})
}
