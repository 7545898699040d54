package config

import (
	"fmt"
	"reflect"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/dalaba/dalaba/protocol"
)

// Redacted renders c as YAML with every secret (a field tagged
// secret:"true") that is set replaced by protocol.RedactedValue, and
// returns the keys it replaced: the effective configuration support may
// read from the township.
func (c Config) Redacted() (string, []string, error) {
	v := reflect.ValueOf(&c).Elem()
	var keys []string
	redact(v, "", &keys)
	b, err := yaml.Marshal(c)
	if err != nil {
		return "", nil, fmt.Errorf("config: render: %w", err)
	}
	return string(b), keys, nil
}

// redact walks the struct v, blanking its set secrets and appending their
// key paths to keys.
func redact(v reflect.Value, prefix string, keys *[]string) {
	for i := range v.NumField() {
		f, fv := v.Type().Field(i), v.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" {
			continue
		}
		switch {
		case f.Tag.Get("secret") == "true":
			if fv.Kind() == reflect.String && fv.String() != "" {
				fv.SetString(protocol.RedactedValue)
				*keys = append(*keys, prefix+name)
			}
		case fv.Kind() == reflect.Struct:
			redact(fv, prefix+name+".", keys)
		}
	}
}
