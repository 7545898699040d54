//go:build !unix

package tts

import "os/exec"

// killGroup is a no-op where there are no process groups: cancellation
// kills the process itself, and WaitDelay bounds the wait for its pipes.
func killGroup(*exec.Cmd) {}
