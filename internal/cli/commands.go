//go:build !agentonly

package cli

import "github.com/spf13/cobra"

// commands are navarch's subcommands, all of them.
func commands(env environment) []*cobra.Command {
	return []*cobra.Command{
		newServerCommand(env),
		newAgentCommand(env),
		newImagesCommand(env),
		newKubectlCommand(env),
		newVersionCommand(),
	}
}
