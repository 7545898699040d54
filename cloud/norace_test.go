//go:build !race

package cloud

const raceDetector = false
