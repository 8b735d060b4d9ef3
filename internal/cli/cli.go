// Package cli holds Navarch's cobra commands: it turns flags into component
// configurations and runs them.
package cli

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/navarch/navarch/internal/version"
)

// Main runs the command line args and returns the process exit code.
func Main(args []string) int {
	root := &cobra.Command{
		Use:           "navarch",
		Short:         "Navarch: a Kubernetes-compatible container orchestrator in one binary",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(&cobra.Command{
		Use:   "version",
		Short: "Print the Navarch version and the Kubernetes version it serves",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			info := version.Info()
			fmt.Fprintf(cmd.OutOrStdout(), "navarch %s (Kubernetes %s, %s)\n", version.Navarch(), version.Kubernetes, info.GoVersion)
		},
	})
	root.SetArgs(args[1:])
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		return 1
	}
	return 0
}
