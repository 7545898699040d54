package testenv

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// SmallDisk mounts a tmpfs of size bytes on a new temporary directory and
// returns the directory; the test's cleanup unmounts it, after the
// cleanups registered later (closing files on it) have run. Mounting needs
// Linux and root (CAP_SYS_ADMIN); without them the test is Missing the
// disk.
func SmallDisk(t testing.TB, size int64) string {
	t.Helper()
	dir := t.TempDir()
	if err := mountTmpfs(dir, size); err != nil {
		Missing(t, "a tmpfs mount ("+err.Error()+")", "run the test on Linux as root, as CI does")
		return dir
	}
	t.Cleanup(func() {
		if err := unmount(dir); err != nil {
			t.Errorf("unmount the small disk %s: %v", dir, err)
		}
	})
	return dir
}

// Fill writes a file into dir until its disk has no room left, and returns
// a function that removes the file again.
func Fill(t testing.TB, dir string) (unfill func()) {
	t.Helper()
	path := filepath.Join(dir, "fill")
	f, err := os.Create(path)
	if err != nil {
		t.Fatalf("fill %s: %v", dir, err)
	}
	buf := make([]byte, 64<<10)
	for {
		_, err = f.Write(buf)
		if err != nil {
			break
		}
	}
	if cerr := f.Close(); !errors.Is(err, syscall.ENOSPC) || (cerr != nil && !errors.Is(cerr, syscall.ENOSPC)) {
		t.Fatalf("fill %s: writing stopped with %v (close: %v), want no space left", dir, err, cerr)
	}
	// A write of less than a block may still fit: fill that too.
	for _, n := range []int{4096, 512, 1} {
		if f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0); err == nil {
			for {
				if _, err := f.Write(buf[:n]); err != nil {
					break
				}
			}
			_ = f.Close() // ENOSPC expected; the file is full either way
		}
	}
	return func() {
		if err := os.Remove(path); err != nil {
			t.Errorf("unfill %s: %v", dir, err)
		}
	}
}
