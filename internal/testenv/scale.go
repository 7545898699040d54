package testenv

// BenchSize is how big a benchmark's workload is: full when measuring
// (make bench), underRace in make test, which runs every benchmark once
// under the race detector only to prove it still works. The race detector
// slows such workloads (thousands of boxes, hundreds of Argon2id hashes)
// many times over, and its figures say nothing of the product anyway.
func BenchSize(full, underRace int) int {
	if Race {
		return underRace
	}
	return full
}
