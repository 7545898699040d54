package protocol

import (
	"errors"
	"fmt"
	"strings"
)

// Live paging (喊话): an official's microphone, from the browser over
// WebRTC to the box, which forwards the G.711 frames to the RTP speakers
// of the chosen zones at paging priority. Signalling goes as WHIP does
// (one offer, one answer, no trickle), carried by commands like a camera
// viewer's.
const (
	// CmdPage carries a browser's SDP offer with an audio track
	// (PageArgs); the result is PageResult with the box's answer.
	CmdPage = "paging.offer"
	// CmdPageStop ends a paging session (PageStopArgs).
	CmdPageStop = "paging.stop"
)

// PageArgs asks the box to take a live page.
type PageArgs struct {
	// Zones to page; empty pages every zone.
	Zones []string `json:"zones,omitempty"`
	Offer string   `json:"offer"` // SDP
	Pager string   `json:"pager"` // who speaks, for the play log
}

// Validate checks the arguments on their own.
func (a PageArgs) Validate() error {
	var errs []error
	seen := map[string]bool{}
	for i, z := range a.Zones {
		if err := ValidateID(z); err != nil {
			errs = append(errs, fmt.Errorf("zones[%d]: %w", i, err))
		}
		if seen[z] {
			errs = append(errs, fmt.Errorf("zones[%d]: %q given twice", i, z))
		}
		seen[z] = true
	}
	if a.Offer == "" || len(a.Offer) > MaxSDP || !strings.HasPrefix(a.Offer, "v=0") {
		errs = append(errs, fmt.Errorf("offer: want an SDP offer of at most %d bytes", MaxSDP))
	}
	if len(a.Pager) > MaxNameLen {
		errs = append(errs, fmt.Errorf("pager: longer than %d bytes", MaxNameLen))
	}
	return errors.Join(errs...)
}

// PageResult is the box's answer.
type PageResult struct {
	Session string `json:"session"`
	Answer  string `json:"answer"` // SDP
	Codec   string `json:"codec"`  // PCMA or PCMU, as negotiated
}

// PageStopArgs ends a paging session.
type PageStopArgs struct {
	Session string `json:"session"`
}

// Validate checks the arguments on their own.
func (a PageStopArgs) Validate() error {
	if err := ValidateID(a.Session); err != nil {
		return fmt.Errorf("session: %w", err)
	}
	return nil
}
