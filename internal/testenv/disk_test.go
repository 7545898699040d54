package testenv

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func TestFillLeavesNoRoom(t *testing.T) {
	dir := SmallDisk(t, 1<<20)
	unfill := Fill(t, dir)
	err := os.WriteFile(filepath.Join(dir, "more"), make([]byte, 4096), 0o600)
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("a write to the full disk: %v, want no space left", err)
	}
	unfill()
	if err := os.WriteFile(filepath.Join(dir, "more"), make([]byte, 4096), 0o600); err != nil {
		t.Fatalf("a write once the fill is gone: %v", err)
	}
}
