// Package cloud assembles the township service, dalaba-cloud: it opens the
// store (<data_dir>/cloud.db, or the PostgreSQL database store.dsn names),
// the township signing key
// (<data_dir>/township.key, made on first start) and the audio clips
// (<data_dir>/media), creates the first admin, and starts the embedded
// broker (unless an external one is configured; its session events feed
// the fleet's presence), the downlink, the fleet and its presence, the
// alerting (cloud/alert), and the HTTP server (the API, /media/ for boxes
// and, with metrics.token set, /metrics; every request timed by route for
// cloud/metrics) in that order,
// stopping them in reverse: HTTP drained, downlink disconnected, broker
// closed, store closed.
//
// It also holds what the command line does with the service stopped
// (AddBox, AddUser, Migrate: a bbolt store copied into PostgreSQL), so
// cmd/dalaba-cloud imports only this package and config.
//
// It owns wiring and lifecycle only; what each part does is in its own
// package.
package cloud
