// Command hang is a release that starts, tells the service manager it is
// ready, and then hangs: it never pings the watchdog.
package main

import (
	"fmt"
	"net"
	"os"
	"time"
)

func main() {
	if sock := os.Getenv("NOTIFY_SOCKET"); sock != "" {
		if c, err := net.Dial("unixgram", sock); err == nil {
			c.Write([]byte("READY=1"))
			c.Close()
		}
	}
	fmt.Fprintln(os.Stderr, "hang: ready, and stuck from now on")
	for {
		time.Sleep(time.Hour)
	}
}
