// Package sdnotify speaks the service manager's notify protocol: a
// datagram of newline-separated assignments (READY=1, WATCHDOG=1,
// STOPPING=1, STATUS=…) written to the unix socket named by
// $NOTIFY_SOCKET. Both daemons use it so that systemd knows when they are
// up and restarts one whose main loop stops answering (WatchdogSec=).
//
// It is a few dozen lines over the standard library rather than a
// dependency; it knows nothing of the daemons.
package sdnotify
