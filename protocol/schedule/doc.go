// Package schedule is the calendar math behind the box's broadcast
// schedules: given a Rule (times of day, weekdays, days of the month, a date
// range, a one-shot instant, a repeat count, a time zone) it says when the
// rule fires, and whether an instant falls in quiet hours.
//
// It lives under protocol because a Rule is part of the wire contract: the
// township validates rules and previews the coming playbacks with the same
// code the box fires them with, so the two can never disagree.
//
// Everything here is a pure function of its inputs. The package must not
// know about goroutines, timers, MQTT, storage or the clock: it never asks
// what time it is. edge/broadcast owns the clock, fires the occurrences,
// records the ones quiet hours suppress, and persists what it has handled.
// Because Next counts a rule's Count from its Start, the answer never depends
// on what was fired before.
//
// # Time zones
//
// Rules are written in local wall time, Asia/Shanghai unless a rule names
// another IANA zone. Zones are loaded with time.LoadLocation, which reads
// the system's zoneinfo when it exists; a village box may be flashed without
// /usr/share/zoneinfo, so the package imports time/tzdata, whose only effect
// is to register an embedded copy (about 450 KB) that LoadLocation falls
// back to. No schedule then depends on how the box was imaged.
//
// # Wall times that do not exist or happen twice
//
// Where a zone has daylight saving time (Asia/Shanghai has had none since
// 1991, but the code is general), a wall time can be skipped or repeated.
// Each resolves to exactly one instant, the same every time:
//
//   - a skipped time (02:30 on the spring-forward night in New York) fires
//     at the instant the clock jumps over it (03:00 EDT), because that is when
//     a wall clock first shows a time past it; several skipped times of one
//     day fire once, together;
//   - a repeated time (01:30 on the fall-back night) fires at its first
//     occurrence only (01:30 EDT).
//
// Both choices keep the day's occurrences in the order of their wall times,
// and Next never returns the same instant twice; Count counts the instants
// that fire, after such folding.
//
// # Range
//
// Occurrences exist in the years 1 to 9999 (the years a "YYYY-MM-DD" date
// can name); instants beyond report no occurrence.
package schedule
