// Package logging is the log section both daemons' configs share: a level
// and a format, checked, and the slog logger they make.
package logging

import (
	"fmt"
	"io"
	"log/slog"
)

// Config is the `log:` section of a daemon's config.
type Config struct {
	Level  string `yaml:"level"`  // debug, info, warn or error
	Format string `yaml:"format"` // text or json
}

// Default is info, as text.
func Default() Config { return Config{Level: "info", Format: "text"} }

// Validate returns one error per bad field.
func (c Config) Validate() []error {
	var errs []error
	var l slog.Level
	if l.UnmarshalText([]byte(c.Level)) != nil || (c.Level != "debug" && c.Level != "info" && c.Level != "warn" && c.Level != "error") {
		errs = append(errs, fmt.Errorf("config: log.level %q: one of debug, info, warn, error", c.Level))
	}
	if c.Format != "text" && c.Format != "json" {
		errs = append(errs, fmt.Errorf("config: log.format %q: text or json", c.Format))
	}
	return errs
}

// New makes the logger the section describes, writing to w.
func (c Config) New(w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Level)) // an invalid level stays info; Validate reports it
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
