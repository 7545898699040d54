// Package logring keeps the box's own latest log lines in memory, so that
// support can read them from the township (a diagnostics command) without
// a shell on the box: a slog.Handler that passes every record on to the
// daemon's real handler and also writes it, as a text line, into a ring
// bounded in lines and in bytes, the oldest going first.
//
// The ring has its own level, so it can keep more (info, say) than the
// journal shows, or less. Nothing here knows of commands or the township.
package logring
