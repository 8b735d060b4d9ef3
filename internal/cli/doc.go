// Package cli is Navarch's command line: the cobra commands of the one
// navarch binary, which turn flags into component configurations and run
// them.
//
// Main is the whole entry point (cmd/navarch calls it with os.Args). It
// dispatches on the name the binary was invoked under, busybox style: a
// symlink named kubectl runs the embedded upstream kubectl, anything else
// runs the navarch command tree.
//
// # Organization
//
//   - cli.go: Main, the root command and its list of subcommands, `version`.
//   - server.go: `navarch server`, flags to server.Config.
//   - kubectl.go: `navarch kubectl` and the kubectl symlink, and which
//     kubeconfig they default to.
//   - datadir.go: where Navarch keeps its state, shared by the commands.
package cli
