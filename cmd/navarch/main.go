// Command navarch is the one Navarch binary: server, agent, kubectl and
// image tools. See `navarch --help`.
package main

import (
	"os"

	"github.com/navarch/navarch/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args))
}
