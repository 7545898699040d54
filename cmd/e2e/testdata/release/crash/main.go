// Command crash is a release that exits as soon as it starts, as a build
// that cannot read its configuration or open its file would.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "crash: this release exits at start")
	os.Exit(1)
}
