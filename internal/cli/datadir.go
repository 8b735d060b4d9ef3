package cli

import "path/filepath"

// Where Navarch keeps its state (etcd data, certificates, the admin
// kubeconfig) unless told otherwise.
const (
	// dataDirEnv names the environment variable that overrides
	// defaultDataDir.
	dataDirEnv     = "NAVARCH_DATA_DIR"
	defaultDataDir = "/var/lib/navarch"
	// kubeconfigFileName is the admin kubeconfig `navarch server` writes
	// into the data directory and `navarch kubectl` reads by default.
	kubeconfigFileName = "kubeconfig"
)

// dataDir returns $NAVARCH_DATA_DIR, or defaultDataDir when it is unset
// or empty.
func dataDir(getenv func(string) string) string {
	if dir := getenv(dataDirEnv); dir != "" {
		return dir
	}
	return defaultDataDir
}

// dataDirKubeconfig is the path of the admin kubeconfig in the data
// directory getenv points at.
func dataDirKubeconfig(getenv func(string) string) string {
	return filepath.Join(dataDir(getenv), kubeconfigFileName)
}
