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
//   - cli.go: Main, the root command, `version`.
//   - commands.go: the list of subcommands. commands_agentonly.go replaces
//     it in a node-only build (`go build -tags agentonly ./cmd/navarch`:
//     agent, images and version, without the API server and kubectl, so
//     without their packages and their package initialization), which
//     exists to measure what the agent alone costs (see bench/README.md);
//     the product is the one binary.
//   - agent.go: `navarch agent`, flags to agent.Config, beside the
//     service proxy.
//   - images.go: `navarch images`.
//   - server.go: `navarch server`, flags to server.Config.
//   - kubectl.go: `navarch kubectl` and the kubectl symlink, and which
//     kubeconfig they default to. kubectltext/ keeps processes that do
//     not run kubectl from loading its translations at init.
//   - datadir.go: where Navarch keeps its state, shared by the commands.
package cli
