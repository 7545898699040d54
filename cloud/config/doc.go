// Package config is the township service's configuration: one struct, code
// defaults, strict YAML (an unknown key is an error naming its line), a few
// DALABA_* environment overrides, and Validate reporting every problem at
// once. configs/cloud.example.yaml is its manual and is tested equal to the
// defaults.
//
// It knows nothing of the parts it configures: it only checks values.
package config
