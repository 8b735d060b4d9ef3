package pki

import (
	"fmt"
	"net/url"
	"os"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// KubeconfigName is the name of the cluster, user and context in the
// kubeconfig WriteKubeconfig writes, and its current context.
const KubeconfigName = "navarch"

// WriteKubeconfig writes to path a kubeconfig whose cluster, user and
// context are all named KubeconfigName: the cluster is serverURL trusted
// through caPEM, the user authenticates with the client certificate and
// key read from certFile and keyFile. The CA, certificate and key are
// embedded rather than referenced, so the file alone is enough when it is
// copied to another machine.
//
// The file is written atomically with mode 0600 (it holds a private key),
// and left untouched when it already has exactly that content and mode.
// The parent directory is created (0700) if missing.
func WriteKubeconfig(path, serverURL string, caPEM []byte, certFile, keyFile string) error {
	parsed, err := url.Parse(serverURL)
	if err != nil || parsed.Scheme == "" || parsed.Host == "" {
		return fmt.Errorf("pki: kubeconfig %s: server URL %q is not an absolute URL", path, serverURL)
	}
	if len(caPEM) == 0 {
		return fmt.Errorf("pki: kubeconfig %s: empty CA certificate", path)
	}
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return fmt.Errorf("pki: kubeconfig %s: read client certificate: %w", path, err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return fmt.Errorf("pki: kubeconfig %s: read client key: %w", path, err)
	}

	config := clientcmdapi.NewConfig()
	cluster := clientcmdapi.NewCluster()
	cluster.Server = serverURL
	cluster.CertificateAuthorityData = caPEM
	config.Clusters[KubeconfigName] = cluster
	user := clientcmdapi.NewAuthInfo()
	user.ClientCertificateData = certPEM
	user.ClientKeyData = keyPEM
	config.AuthInfos[KubeconfigName] = user
	kubeContext := clientcmdapi.NewContext()
	kubeContext.Cluster = KubeconfigName
	kubeContext.AuthInfo = KubeconfigName
	config.Contexts[KubeconfigName] = kubeContext
	config.CurrentContext = KubeconfigName

	data, err := clientcmd.Write(*config)
	if err != nil {
		return fmt.Errorf("pki: kubeconfig %s: encode: %w", path, err)
	}
	if err := writeFileIfChanged(path, data, secretFileMode); err != nil {
		return fmt.Errorf("pki: kubeconfig %s: %w", path, err)
	}
	return nil
}
