//go:build agentonly

package cli

import (
	"fmt"

	"github.com/spf13/cobra"
)

// commands are the subcommands of a node-only build (go build -tags
// agentonly): the agent, the images tools it works with, and version;
// no API server and no kubectl, so none of their packages (or their
// package initialization) are in the binary.
func commands(env environment) []*cobra.Command {
	return []*cobra.Command{
		newAgentCommand(env),
		newImagesCommand(env),
		newVersionCommand(),
	}
}

func invokedAsKubectl(string) bool { return false }

func runKubectl(argv []string, env environment) {
	fmt.Fprintln(env.streams.ErrOut, "error: this navarch is built without kubectl (-tags agentonly)")
}
