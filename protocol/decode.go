package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
)

// Marshal encodes v for a topic of kind k and refuses what would exceed the
// topic's size limit, so a sender learns of it before the receiver rejects it.
func Marshal(k Kind, v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("protocol: encode %s: %w", k, err)
	}
	if len(b) > k.MaxPayload() {
		return nil, reject(k, ReasonTooLarge, fmt.Errorf("%d bytes, limit %d", len(b), k.MaxPayload()))
	}
	return b, nil
}

// decodeStrict decodes one JSON object of schema Version into dst: the size
// limit first, then the version (so a newer schema is reported as such, not
// as unknown fields), then the fields, refusing unknown ones and trailing
// data.
func decodeStrict(k Kind, payload []byte, dst any) error {
	if len(payload) > k.MaxPayload() {
		return reject(k, ReasonTooLarge, fmt.Errorf("%d bytes, limit %d", len(payload), k.MaxPayload()))
	}
	var head struct {
		V *int `json:"v"`
	}
	if err := json.Unmarshal(payload, &head); err != nil {
		return reject(k, ReasonMalformed, err)
	}
	if head.V == nil {
		return reject(k, ReasonVersion, errors.New(`missing "v"`))
	}
	if *head.V != Version {
		return reject(k, ReasonVersion, fmt.Errorf("v=%d, this side speaks v=%d", *head.V, Version))
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return reject(k, ReasonMalformed, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return reject(k, ReasonMalformed, errors.New("trailing data after the object"))
	}
	return nil
}

func checkBox(k Kind, topicBox, msgBox string) error {
	if err := ValidateBoxID(msgBox); err != nil {
		return reject(k, ReasonInvalid, err)
	}
	if topicBox != msgBox {
		return reject(k, ReasonWrongBox, fmt.Errorf("box_id %q on the topic of box %q", msgBox, topicBox))
	}
	return nil
}

// MaxEventTypeLen and MaxEventDataLen bound one event.
const (
	MaxEventTypeLen = 64
	MaxEventDataLen = 16 << 10
)

// ValidateEvent checks one event as an outbox would accept it.
func ValidateEvent(e Event) error {
	switch {
	case e.Type == "" || len(e.Type) > MaxEventTypeLen:
		return fmt.Errorf("event type %q: must be 1-%d bytes", e.Type, MaxEventTypeLen)
	case e.Priority < PriorityDebug || e.Priority > PriorityCritical:
		return fmt.Errorf("event %s: priority %d out of range", e.Type, e.Priority)
	case len(e.Data) > MaxEventDataLen:
		return fmt.Errorf("event %s: data is %d bytes, limit %d", e.Type, len(e.Data), MaxEventDataLen)
	case len(e.Data) > 0 && !json.Valid(e.Data):
		return fmt.Errorf("event %s: data is not JSON", e.Type)
	}
	return nil
}

// DecodeEventBatch decodes a batch published on box's events topic.
func DecodeEventBatch(box string, payload []byte) (EventBatch, error) {
	var b EventBatch
	if err := decodeStrict(KindEvents, payload, &b); err != nil {
		return EventBatch{}, err
	}
	if err := checkBox(KindEvents, box, b.BoxID); err != nil {
		return EventBatch{}, err
	}
	if len(b.Events) > MaxBatchEvents {
		return EventBatch{}, reject(KindEvents, ReasonInvalid, fmt.Errorf("%d events, limit %d", len(b.Events), MaxBatchEvents))
	}
	if b.Epoch != "" {
		if err := ValidateEpoch(b.Epoch); err != nil {
			return EventBatch{}, reject(KindEvents, ReasonInvalid, err)
		}
	}
	if b.Floor == 0 || b.Floor > MaxSeq+1 {
		return EventBatch{}, reject(KindEvents, ReasonInvalid, fmt.Errorf("floor %d: must be 1-%d", b.Floor, uint64(MaxSeq+1)))
	}
	prev := uint64(0)
	for i, e := range b.Events {
		if e.Seq == 0 || e.Seq <= prev {
			return EventBatch{}, reject(KindEvents, ReasonInvalid, fmt.Errorf("event %d: seq %d not increasing", i, e.Seq))
		}
		if e.Seq > MaxSeq {
			return EventBatch{}, reject(KindEvents, ReasonInvalid, fmt.Errorf("event %d: seq %d above the limit %d", i, e.Seq, uint64(MaxSeq)))
		}
		if e.Seq < b.Floor {
			return EventBatch{}, reject(KindEvents, ReasonInvalid, fmt.Errorf("event %d: seq %d below floor %d", i, e.Seq, b.Floor))
		}
		if err := ValidateEvent(e); err != nil {
			return EventBatch{}, reject(KindEvents, ReasonInvalid, err)
		}
		prev = e.Seq
	}
	return b, nil
}

// DecodeEventsAck decodes an ack published on box's events/ack topic.
func DecodeEventsAck(box string, payload []byte) (EventsAck, error) {
	var a EventsAck
	if err := decodeStrict(KindEventsAck, payload, &a); err != nil {
		return EventsAck{}, err
	}
	if err := checkBox(KindEventsAck, box, a.BoxID); err != nil {
		return EventsAck{}, err
	}
	if err := validateAck(a); err != nil {
		return EventsAck{}, reject(KindEventsAck, ReasonInvalid, err)
	}
	return a, nil
}

func validateAck(a EventsAck) error {
	if a.Seq > MaxSeq {
		return fmt.Errorf("seq %d above the limit %d", a.Seq, uint64(MaxSeq))
	}
	if a.Epoch == "" {
		if a.From != 0 || a.Diverged {
			return errors.New("from and diverged answer a batch with an epoch; this ack names none")
		}
		return nil
	}
	if err := ValidateEpoch(a.Epoch); err != nil {
		return err
	}
	if a.From == 0 || a.From > MaxSeq+1 {
		return fmt.Errorf("from %d: must be 1-%d with an epoch", a.From, uint64(MaxSeq+1))
	}
	return nil
}

// ValidateEpoch checks an epoch's form: EpochLen lowercase hex digits.
func ValidateEpoch(epoch string) error {
	if len(epoch) != EpochLen {
		return fmt.Errorf("epoch %q: must be %d lowercase hex digits", epoch, EpochLen)
	}
	for i := range len(epoch) {
		if c := epoch[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return fmt.Errorf("epoch %q: must be %d lowercase hex digits", epoch, EpochLen)
		}
	}
	return nil
}

// DecodeStatus decodes box's status (or will) message.
func DecodeStatus(box string, payload []byte) (Status, error) {
	var s Status
	if err := decodeStrict(KindStatus, payload, &s); err != nil {
		return Status{}, err
	}
	return s, checkBox(KindStatus, box, s.BoxID)
}

// DecodeReported decodes box's reported state.
func DecodeReported(box string, payload []byte) (Reported, error) {
	var r Reported
	if err := decodeStrict(KindReported, payload, &r); err != nil {
		return Reported{}, err
	}
	return r, checkBox(KindReported, box, r.BoxID)
}

// MaxCommandIDLen bounds command ids.
const MaxCommandIDLen = 64

// DecodeCommandResult decodes a result published on box's cmd/result topic.
func DecodeCommandResult(box string, payload []byte) (CommandResult, error) {
	var r CommandResult
	if err := decodeStrict(KindCmdResult, payload, &r); err != nil {
		return CommandResult{}, err
	}
	if r.ID == "" || len(r.ID) > MaxCommandIDLen {
		return CommandResult{}, reject(KindCmdResult, ReasonInvalid, fmt.Errorf("id %q: must be 1-%d bytes", r.ID, MaxCommandIDLen))
	}
	if err := validateResultCode(r); err != nil {
		return CommandResult{}, reject(KindCmdResult, ReasonInvalid, err)
	}
	return r, checkBox(KindCmdResult, box, r.BoxID)
}

// validateResultCode checks a result's code: none when OK; otherwise, if
// given, a short snake_case word (codes this side does not know yet are
// accepted: see the Code* constants).
func validateResultCode(r CommandResult) error {
	if r.OK && r.Code != "" {
		return fmt.Errorf("code %q on a result that is ok", r.Code)
	}
	if len(r.Code) > MaxResultCodeLen {
		return fmt.Errorf("code: longer than %d bytes", MaxResultCodeLen)
	}
	for i, ch := range r.Code {
		if (ch < 'a' || ch > 'z') && (ch != '_' || i == 0) {
			return fmt.Errorf("code %q: want lower-case letters and underscores", r.Code)
		}
	}
	return nil
}

// validateCommand checks a command's own fields.
func validateCommand(c Command) error {
	var errs []error
	if c.ID == "" || len(c.ID) > MaxCommandIDLen {
		errs = append(errs, fmt.Errorf("id %q: must be 1-%d bytes", c.ID, MaxCommandIDLen))
	}
	if c.Type == "" || len(c.Type) > MaxEventTypeLen {
		errs = append(errs, fmt.Errorf("type %q: must be 1-%d bytes", c.Type, MaxEventTypeLen))
	}
	if c.IssuedAt.IsZero() || c.ExpiresAt.IsZero() {
		errs = append(errs, errors.New("issued_at and expires_at are required"))
	} else if life := c.ExpiresAt.Sub(c.IssuedAt); life <= 0 || life > MaxCommandLifetime {
		errs = append(errs, fmt.Errorf("lifetime %s: must be in (0, %s]", life, MaxCommandLifetime))
	}
	return errors.Join(errs...)
}

func validateDesired(d Desired) error {
	var errs []error
	if d.Rev == 0 {
		errs = append(errs, errors.New("rev must be at least 1"))
	}
	if d.IssuedAt.IsZero() || d.ExpiresAt.IsZero() {
		errs = append(errs, errors.New("issued_at and expires_at are required"))
	} else if !d.ExpiresAt.After(d.IssuedAt) {
		errs = append(errs, errors.New("expires_at must be after issued_at"))
	}
	if _, err := parseSpec(d.Spec); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// expired reports whether now is at or past exp.
func expired(now, exp time.Time) bool { return !now.Before(exp) }
