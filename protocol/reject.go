package protocol

import "fmt"

// RejectError says why a payload was refused. Callers branch on it with
// errors.AsType and record Reason in a *.rejected event.
type RejectError struct {
	Kind   Kind
	Reason string // short machine-friendly cause, e.g. "bad signature"
	Err    error  // underlying cause, if any
}

func (e *RejectError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("protocol: %s rejected: %s: %v", e.Kind, e.Reason, e.Err)
	}
	return fmt.Sprintf("protocol: %s rejected: %s", e.Kind, e.Reason)
}

func (e *RejectError) Unwrap() error { return e.Err }

// Reasons a payload is rejected.
const (
	ReasonTooLarge     = "too large"
	ReasonMalformed    = "malformed"
	ReasonVersion      = "unsupported schema version"
	ReasonInvalid      = "invalid"
	ReasonUnsigned     = "unsigned"
	ReasonBadSignature = "bad signature"
	ReasonExpired      = "expired"
	ReasonWrongBox     = "wrong box"
	ReasonStale        = "stale rev"
	ReasonReplay       = "replayed command"
)

func reject(k Kind, reason string, err error) *RejectError {
	return &RejectError{Kind: k, Reason: reason, Err: err}
}
