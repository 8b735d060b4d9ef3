//go:build !agentonly

package cli

import (
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	// Skips loading kubectl's translations in processes that do not run
	// kubectl (their package inits would load them otherwise).
	_ "github.com/navarch/navarch/internal/cli/kubectltext"
	// Registers client-go's auth provider plugins, as the kubectl binary
	// does, so kubeconfigs that use them behave the same here.
	_ "k8s.io/client-go/plugin/pkg/client/auth"
	"k8s.io/client-go/tools/clientcmd"
	componentcli "k8s.io/component-base/cli"
	kubectlcmd "k8s.io/kubectl/pkg/cmd"
	"k8s.io/kubectl/pkg/cmd/plugin"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
)

// kubectlName is the name kubectl runs under: the command word of
// `navarch kubectl` and the name of the symlink that dispatches to it.
const kubectlName = "kubectl"

// invokedAsKubectl reports whether argv0, the name the binary was started
// under, is a kubectl symlink.
func invokedAsKubectl(argv0 string) bool {
	return strings.TrimSuffix(filepath.Base(argv0), ".exe") == kubectlName
}

func newKubectlCommand(env environment) *cobra.Command {
	return &cobra.Command{
		Use:   kubectlName + " [kubectl arguments]",
		Short: "Run kubectl (the upstream one, built in) against this cluster",
		Long: `Run kubectl, the upstream Kubernetes client built into this binary, with
the arguments given, unchanged: "navarch kubectl get pods -o wide" is
"kubectl get pods -o wide". Invoking this binary through a symlink named
kubectl does the same.

Unless --kubeconfig or $KUBECONFIG names one, kubectl uses the admin
kubeconfig "navarch server" writes into its data directory
($NAVARCH_DATA_DIR, default /var/lib/navarch), if that file exists, and
kubectl's own default (~/.kube/config) otherwise.

"navarch kubectl --help" shows kubectl's own help.`,
		// Every flag, --help included, belongs to kubectl.
		DisableFlagParsing: true,
		Args:               cobra.ArbitraryArgs,
		Run: func(_ *cobra.Command, args []string) {
			runKubectl(append([]string{kubectlName}, args...), env)
		},
	}
}

// defaultKubeconfig decides which kubeconfig `navarch kubectl` uses when
// no --kubeconfig flag names one: $KUBECONFIG when set (possibly a list,
// passed on as is), else the admin kubeconfig in the data directory when
// fileExists says it is there, else "" to leave the choice to kubectl
// (~/.kube/config). It reads nothing but its arguments.
func defaultKubeconfig(getenv func(string) string, fileExists func(string) bool) string {
	if fromEnv := getenv(clientcmd.RecommendedConfigPathEnvVar); fromEnv != "" {
		return fromEnv
	}
	if path := dataDirKubeconfig(getenv); fileExists(path) {
		return path
	}
	return ""
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// runKubectl runs the upstream kubectl with argv (argv[0] is the name it
// was invoked under, argv[1:] its arguments), reading and writing
// env.streams.
//
// It returns only if kubectl succeeds. A failing command prints kubectl's
// error message and ends the process with kubectl's exit code, because
// kubectl's subcommands do that themselves (cmdutil.CheckErr), so the
// result is the same whichever layer fails.
//
// For the duration of the call it takes over two pieces of process state,
// the way a kubectl process owns them, which makes it unsafe to call
// concurrently:
//   - os.Args is set to argv: cobra reads the arguments from there, and
//     so do kuberc aliases (which replace the arguments only when an
//     alias applies), --record and the plugin handler.
//   - $KUBECONFIG is set to the default kubeconfig (see defaultKubeconfig)
//     rather than setting only the --kubeconfig default, so that every
//     consumer sees it: `kubectl config ...` (which has its own
//     --kubeconfig flag) and plugins started as child processes.
func runKubectl(argv []string, env environment) {
	if path := defaultKubeconfig(env.getenv, fileExists); path != "" {
		restore := setenvFor(clientcmd.RecommendedConfigPathEnvVar, path)
		defer restore()
	}
	savedArgs := os.Args
	os.Args = argv
	defer func() { os.Args = savedArgs }()

	kubectl := kubectlcmd.NewDefaultKubectlCommandWithArgs(kubectlcmd.KubectlOptions{
		PluginHandler: kubectlcmd.NewDefaultPluginHandler(plugin.ValidPluginFilenamePrefixes),
		Arguments:     argv,
		// ConfigFlags left nil: kubectl then builds its own defaults
		// (discovery QPS and burst, warning printer on our streams).
		IOStreams: env.streams,
	})
	// Help and usage go to the same streams as everything else.
	kubectl.SetIn(env.streams.In)
	kubectl.SetOut(env.streams.Out)
	kubectl.SetErr(env.streams.ErrOut)
	if err := componentcli.RunNoErrOutput(kubectl); err != nil {
		cmdutil.CheckErr(err)
	}
}

// setenvFor sets key to value and returns a function that puts back what
// was there before.
func setenvFor(key, value string) (restore func()) {
	previous, wasSet := os.LookupEnv(key)
	if wasSet && previous == value {
		return func() {}
	}
	_ = os.Setenv(key, value)
	return func() {
		if wasSet {
			_ = os.Setenv(key, previous)
		} else {
			_ = os.Unsetenv(key)
		}
	}
}
