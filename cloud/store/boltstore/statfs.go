//go:build linux || darwin || freebsd

package boltstore

import "syscall"

// freeBytes is what an unprivileged writer may still use on dir's disk.
func freeBytes(dir string) (uint64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return uint64(st.Bavail) * uint64(st.Bsize), nil
}
