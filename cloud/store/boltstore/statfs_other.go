//go:build !(linux || darwin || freebsd)

package boltstore

func freeBytes(string) (uint64, error) { return 0, errNoStatfs }
