package plan

import (
	"errors"
	"fmt"

	"github.com/dalaba/dalaba/cloud/store"
	"github.com/dalaba/dalaba/protocol"
)

// Errors callers branch on; nothing was changed when one is returned.
var (
	ErrInvalid = errors.New("plan: invalid") // the plan would not be a valid desired state
	ErrInUse   = errors.New("plan: in use")  // a part still referenced by another
)

// References returns the sha256s b plays, the chime first, each once, in
// the order first referenced.
func References(b protocol.Broadcast) []string {
	var out []string
	seen := map[string]bool{}
	add := func(sha string) {
		if !seen[sha] {
			seen[sha] = true
			out = append(out, sha)
		}
	}
	if b.Chime != "" && b.Chime != protocol.ChimeOff {
		add(b.Chime)
	}
	for _, s := range b.Schedules {
		for _, m := range s.Media {
			add(m)
		}
	}
	return out
}

// Compile makes the desired state's spec from plan b: b with Media listing
// every referenced clip from index (sha256, name, size, duration), checked
// with Broadcast.Validate. A clip that is not in index, or any other
// problem, is ErrInvalid naming every problem at once.
func Compile(b protocol.Broadcast, index map[string]store.MediaInfo) (protocol.Spec, error) {
	var errs []error
	b.Media = nil
	for _, sha := range References(b) {
		m, ok := index[sha]
		if !ok {
			if err := protocol.ValidateSHA256(sha); err != nil {
				errs = append(errs, fmt.Errorf("medium: %w", err))
			} else {
				errs = append(errs, fmt.Errorf("medium %s was never uploaded", sha))
			}
			continue
		}
		b.Media = append(b.Media, protocol.Media{SHA256: m.SHA256, Name: m.Name, Size: m.Size, DurationMS: m.DurationMS})
	}
	if err := b.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return protocol.Spec{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return protocol.Spec{Broadcast: &b}, nil
}
