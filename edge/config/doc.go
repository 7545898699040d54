// Package config is dalaba-edge's local configuration: the box's identity,
// its broker, the pinned township key, paths and a few tunables. Everything
// the box plays or relays comes from the township's signed desired state,
// never from this file.
//
// Loading is strict: code defaults first (Default), then the YAML file, where
// an unknown key is an error naming its line, then a few DALABA_*
// environment variables; main applies its flags after that, and Validate
// reports every problem at once. configs/edge.example.yaml is the manual:
// tests keep it equal to the defaults, and every key of Config in it with a
// comment; the defaults of the parts' sections are the parts' own.
//
// It knows nothing of how the parts it configures work.
package config
