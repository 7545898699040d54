//go:build !race

package whep

const raceDetector = false
