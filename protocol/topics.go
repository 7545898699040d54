package protocol

import (
	"fmt"
	"strings"
)

// Kind names one topic of a box's subtree.
type Kind string

// The topics of a box's subtree, dalaba/v1/box/<box>/<kind>.
const (
	KindDesired   Kind = "desired"    // cloud→box, QoS 1, retained, signed
	KindReported  Kind = "reported"   // box→cloud, QoS 1, retained
	KindCmd       Kind = "cmd"        // cloud→box, QoS 1, signed
	KindCmdResult Kind = "cmd/result" // box→cloud, QoS 1
	KindEvents    Kind = "events"     // box→cloud, QoS 1
	KindEventsAck Kind = "events/ack" // cloud→box, QoS 1
	KindStatus    Kind = "status"     // box→cloud, QoS 1, retained, also the will
)

// Kinds lists every kind, in the order of ARCHITECTURE.md's topic table.
var kinds = [...]Kind{KindDesired, KindReported, KindCmd, KindCmdResult, KindEvents, KindEventsAck, KindStatus}

// Kinds returns every topic kind.
func Kinds() []Kind { k := kinds; return k[:] }

// Prefix is the root of every box's subtree.
const Prefix = "dalaba/v1/box/"

// Topic returns the topic of kind k for box.
func Topic(box string, k Kind) string { return Prefix + box + "/" + string(k) }

// Subtree returns the wildcard filter covering everything of box.
func Subtree(box string) string { return Prefix + box + "/#" }

// AllBoxes returns the filter the cloud subscribes to for kind k of every box.
func AllBoxes(k Kind) string { return Prefix + "+/" + string(k) }

// FromBox reports whether kind k is published by the box (and so is the only
// kind a box's credentials may publish).
func (k Kind) FromBox() bool {
	switch k {
	case KindReported, KindCmdResult, KindEvents, KindStatus:
		return true
	}
	return false
}

// Retained reports whether messages of kind k are published retained.
func (k Kind) Retained() bool {
	return k == KindDesired || k == KindReported || k == KindStatus
}

// MaxPayload is the largest payload, in bytes, accepted on topics of kind k.
// Desired state lists a whole village's speakers, cameras and schedules;
// events batch up to MaxBatchEvents events; the rest are small.
func (k Kind) MaxPayload() int {
	switch k {
	case KindDesired:
		return 1 << 20
	case KindEvents:
		return 1 << 20
	case KindCmd, KindCmdResult, KindReported:
		return 64 << 10
	default:
		return 1 << 10
	}
}

// ParseTopic splits a topic of the v1 tree into box id and kind.
func ParseTopic(topic string) (box string, k Kind, err error) {
	rest, ok := strings.CutPrefix(topic, Prefix)
	if !ok {
		return "", "", fmt.Errorf("protocol: topic %q is not under %s", topic, Prefix)
	}
	box, tail, ok := strings.Cut(rest, "/")
	if !ok {
		return "", "", fmt.Errorf("protocol: topic %q has no kind", topic)
	}
	if err := ValidateBoxID(box); err != nil {
		return "", "", err
	}
	for _, c := range kinds {
		if string(c) == tail {
			return box, c, nil
		}
	}
	return "", "", fmt.Errorf("protocol: topic %q: unknown kind %q", topic, tail)
}

// MaxBoxIDLen bounds box ids so topics stay short.
const MaxBoxIDLen = 64

// ValidateBoxID checks a box id: 1–64 of a-z, 0-9 and '-', not starting with
// '-'. MQTT wildcards and separators can never appear, so a box id can be
// spliced into a topic or an ACL pattern safely.
func ValidateBoxID(id string) error {
	if id == "" || len(id) > MaxBoxIDLen {
		return fmt.Errorf("protocol: box id %q: must be 1-%d characters", id, MaxBoxIDLen)
	}
	for i, r := range id {
		ok := (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') || (r == '-' && i > 0)
		if !ok {
			return fmt.Errorf("protocol: box id %q: only a-z, 0-9 and '-' (not first) are allowed", id)
		}
	}
	return nil
}
