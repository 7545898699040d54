//go:build !race

package testenv

// Race reports whether the tests were built with the race detector, as
// make test builds them.
const Race = false
