//go:build race

package cloud

// raceDetector: the race detector slows a process of thousands of
// connections several times over, so TestConnectSurge holds a quarter
// of the boxes under it (make test); the plain run holds them all.
const raceDetector = true
