package cli

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/navarch/navarch/internal/version"
)

// environment is what the commands read from the process around them:
// the standard streams and the environment variables. Main passes the
// real ones; tests pass their own.
type environment struct {
	streams genericiooptions.IOStreams
	getenv  func(key string) string
}

func processEnvironment() environment {
	return environment{
		streams: genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr},
		getenv:  os.Getenv,
	}
}

// Main runs the command line args (args[0] is the program name, as in
// os.Args) and returns the process exit code.
//
// When args[0] names kubectl (the binary was invoked through a symlink
// called kubectl), Main behaves exactly as `navarch kubectl args[1:]`.
// kubectl's own failures end the process with kubectl's exit code, as the
// kubectl binary does; see runKubectl.
func Main(args []string) int {
	return run(args, processEnvironment())
}

func run(args []string, env environment) int {
	if len(args) == 0 {
		args = []string{"navarch"}
	}
	if invokedAsKubectl(args[0]) {
		runKubectl(args, env)
		return 0
	}
	root := newRootCommand(env)
	root.SetArgs(args[1:])
	root.SetIn(env.streams.In)
	root.SetOut(env.streams.Out)
	root.SetErr(env.streams.ErrOut)
	if err := root.Execute(); err != nil {
		fmt.Fprintln(env.streams.ErrOut, "error:", err)
		return 1
	}
	return 0
}

// newRootCommand builds the navarch command tree. Every subcommand is in
// the one list commands returns (commands.go).
func newRootCommand(env environment) *cobra.Command {
	root := &cobra.Command{
		Use:           "navarch",
		Short:         "Navarch: a Kubernetes-compatible container orchestrator in one binary",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(commands(env)...)
	return root
}

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the Navarch version and the Kubernetes version it serves",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			info := version.Info()
			fmt.Fprintf(cmd.OutOrStdout(), "navarch %s (Kubernetes %s, %s)\n", version.Navarch(), version.Kubernetes, info.GoVersion)
		},
	}
}
