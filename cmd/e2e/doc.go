// Package e2e holds only tests: they build dalaba-cloud and dalaba-edge,
// run them as real processes against real brokers on loopback, cut the
// uplink, kill the box with SIGKILL, and check from the township's API that
// nothing the box accepted was lost.
package e2e
