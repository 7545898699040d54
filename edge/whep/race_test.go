//go:build race

package whep

// raceDetector: CPU figures taken under the race detector say nothing of
// the box, so the CPU benchmarks leave them to `make bench`.
const raceDetector = true
