package volume

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/klog/v2"
)

// etcHostsPath is where a container sees the pod's hosts file.
const etcHostsPath = "/etc/hosts"

// maxTerminationMessageLength is how much of a termination-message file
// is read back (its end), as the kubelet's limit.
const maxTerminationMessageLength = 4096

// ContainerMounts returns the CRI mounts of container c of pod, whose
// volumes SetUp has set up: one per volumeMount (subPath and subPathExpr
// resolved safely, read-only when the mount or the volume type says so,
// with its mount propagation), the termination-message file at
// c.TerminationMessagePath, and, when podIP is known and the pod is not
// on the host network, the pod's managed /etc/hosts (unless a
// volumeMount covers /etc/hosts). env is the container's environment,
// which subPathExpr expands against. Errors the pod's author must fix
// are *ConfigError with the kubelet's message.
func (m *Manager) ContainerMounts(ctx context.Context, pod *corev1.Pod, c *corev1.Container, env map[string]string, podIP string) ([]*runtimeapi.Mount, error) {
	logger := klog.FromContext(ctx)
	if err := checkUID(pod.UID); err != nil {
		return nil, err
	}
	var mounts []*runtimeapi.Mount
	mountHosts := podIP != "" && !pod.Spec.HostNetwork
	for i, vm := range c.VolumeMounts {
		if vm.MountPath == etcHostsPath {
			mountHosts = false
		}
		hv, ok := m.hostVolumeOf(pod.UID, vm.Name)
		if !ok {
			return nil, &ConfigError{fmt.Sprintf("cannot find volume %q to mount into container %q", vm.Name, c.Name)}
		}
		hostPath := hv.path
		subPath := vm.SubPath
		if vm.SubPathExpr != "" {
			expanded, err := expandSubPathExpr(vm.SubPathExpr, env)
			if err != nil {
				return nil, &ConfigError{err.Error()}
			}
			subPath = expanded
		}
		if subPath != "" {
			if filepath.IsAbs(subPath) {
				return nil, &ConfigError{fmt.Sprintf("error SubPath `%s` must not be an absolute path", subPath)}
			}
			if slices.Contains(strings.Split(subPath, "/"), "..") {
				return nil, &ConfigError{fmt.Sprintf("unable to provision SubPath `%s`: must not contain '..'", subPath)}
			}
			target, err := m.prepareSubPath(pod.UID, hv.path, subPath, vm.Name, c.Name, i)
			if err != nil {
				// As the kubelet, the reason stays in the log: it may tell
				// about the host's file system.
				logger.Error(err, "preparing a subPath", "pod", klog.KObj(pod), "container", c.Name, "volumeMount", vm.Name, "subPath", subPath)
				return nil, &ConfigError{fmt.Sprintf("failed to prepare subPath for volumeMount %q of container %q", vm.Name, c.Name)}
			}
			hostPath = target
		}
		propagation, err := mountPropagation(vm.MountPropagation)
		if err != nil {
			return nil, &ConfigError{err.Error()}
		}
		mounts = append(mounts, &runtimeapi.Mount{
			ContainerPath: vm.MountPath,
			HostPath:      hostPath,
			Readonly:      vm.ReadOnly || hv.readOnly,
			Propagation:   propagation,
		})
	}
	if c.TerminationMessagePath != "" {
		file, err := m.newTerminationFile(pod.UID, c.Name)
		if err != nil {
			return nil, err
		}
		mounts = append(mounts, &runtimeapi.Mount{ContainerPath: c.TerminationMessagePath, HostPath: file})
	}
	if mountHosts {
		file, err := m.writeHostsFile(pod, podIP)
		if err != nil {
			return nil, err
		}
		mounts = append(mounts, &runtimeapi.Mount{ContainerPath: etcHostsPath, HostPath: file})
	}
	return mounts, nil
}

// mountPropagation maps a volumeMount's propagation onto CRI's.
func mountPropagation(mode *corev1.MountPropagationMode) (runtimeapi.MountPropagation, error) {
	if mode == nil {
		return runtimeapi.MountPropagation_PROPAGATION_PRIVATE, nil
	}
	switch *mode {
	case corev1.MountPropagationNone:
		return runtimeapi.MountPropagation_PROPAGATION_PRIVATE, nil
	case corev1.MountPropagationHostToContainer:
		return runtimeapi.MountPropagation_PROPAGATION_HOST_TO_CONTAINER, nil
	case corev1.MountPropagationBidirectional:
		return runtimeapi.MountPropagation_PROPAGATION_BIDIRECTIONAL, nil
	}
	return 0, fmt.Errorf("invalid MountPropagation mode: %q", *mode)
}

// expandSubPathExpr expands $(VAR) references against env as the kubelet
// does for subPathExpr: "$$" is a literal "$", and a reference to a
// variable that is unset or empty is an error.
func expandSubPathExpr(expr string, env map[string]string) (string, error) {
	var b strings.Builder
	var missing []string
	for i := 0; i < len(expr); i++ {
		if expr[i] != '$' || i+1 >= len(expr) {
			b.WriteByte(expr[i])
			continue
		}
		switch expr[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(expr[i+2:], ')')
			if end < 0 {
				b.WriteString(expr[i:])
				i = len(expr)
				continue
			}
			name := expr[i+2 : i+2+end]
			value := env[name]
			if value == "" && !slices.Contains(missing, name) {
				missing = append(missing, name)
			}
			b.WriteString(value)
			i += 2 + end
		default:
			b.WriteByte('$')
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return "", fmt.Errorf("missing value for %s", strings.Join(missing, ", "))
	}
	return b.String(), nil
}

// newTerminationFile creates a new empty, world-writable file for one
// run of a container's termination message (the kubelet's
// containers/<name>/<random>).
func (m *Manager) newTerminationFile(uid types.UID, container string) (string, error) {
	dir := filepath.Join(m.PodDir(uid), "containers", container)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return "", fmt.Errorf("volume: %w", err)
	}
	var id [8]byte
	rand.Read(id[:])
	path := filepath.Join(dir, hex.EncodeToString(id[:]))
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o666)
	if err != nil {
		return "", fmt.Errorf("volume: termination-message file: %w", err)
	}
	f.Close()
	if err := os.Chmod(path, 0o666); err != nil {
		return "", fmt.Errorf("volume: %w", err)
	}
	return path, nil
}

// TerminationMessage reads back what an exited container wrote to its
// termination-message file (the last 4 KiB): the host file of the mount
// at path among the container's mounts. It returns "" when there is
// none.
func TerminationMessage(status *runtimeapi.ContainerStatus, path string) string {
	if path == "" {
		return ""
	}
	for _, mount := range status.GetMounts() {
		if mount.ContainerPath != path {
			continue
		}
		f, err := os.Open(mount.HostPath)
		if err != nil {
			if os.IsNotExist(err) {
				return ""
			}
			return fmt.Sprintf("Error on reading termination log %s: %v", mount.HostPath, err)
		}
		defer f.Close()
		if info, err := f.Stat(); err == nil && info.Size() > maxTerminationMessageLength {
			if _, err := f.Seek(info.Size()-maxTerminationMessageLength, io.SeekStart); err != nil {
				return fmt.Sprintf("Error on reading termination log %s: %v", mount.HostPath, err)
			}
		}
		data, err := io.ReadAll(io.LimitReader(f, maxTerminationMessageLength))
		if err != nil {
			return fmt.Sprintf("Error on reading termination log %s: %v", mount.HostPath, err)
		}
		return string(data)
	}
	return ""
}

// writeHostsFile writes the pod's managed hosts file (when its content
// changed) and returns its path.
func (m *Manager) writeHostsFile(pod *corev1.Pod, podIP string) (string, error) {
	path := filepath.Join(m.PodDir(pod.UID), "etc-hosts")
	content := hostsFileContent(pod, podIP, m.cfg.ClusterDomain)
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, content) {
		return path, nil
	}
	// Written in place: running containers have this very file mounted.
	if err := os.WriteFile(path, content, 0o644); err != nil {
		return "", fmt.Errorf("volume: writing the pod's hosts file: %w", err)
	}
	return path, nil
}

// hostsFileContent is the kubelet's managed /etc/hosts: localhost
// entries, the pod's IP with its hostname (and FQDN with a subdomain),
// then the pod's hostAliases.
func hostsFileContent(pod *corev1.Pod, podIP, clusterDomain string) []byte {
	var b bytes.Buffer
	b.WriteString("# Kubernetes-managed hosts file.\n")
	b.WriteString("127.0.0.1\tlocalhost\n")
	b.WriteString("::1\tlocalhost ip6-localhost ip6-loopback\n")
	b.WriteString("fe00::0\tip6-localnet\n")
	b.WriteString("fe00::0\tip6-mcastprefix\n")
	b.WriteString("fe00::1\tip6-allnodes\n")
	b.WriteString("fe00::2\tip6-allrouters\n")
	hostname := podHostname(pod)
	if sub := pod.Spec.Subdomain; sub != "" {
		fmt.Fprintf(&b, "%s\t%s.%s.%s.svc.%s\t%s\n", podIP, hostname, sub, pod.Namespace, clusterDomain, hostname)
	} else {
		fmt.Fprintf(&b, "%s\t%s\n", podIP, hostname)
	}
	if len(pod.Spec.HostAliases) > 0 {
		b.WriteString("\n# Entries added by HostAliases.\n")
		for _, a := range pod.Spec.HostAliases {
			fmt.Fprintf(&b, "%s\t%s\n", a.IP, strings.Join(a.Hostnames, "\t"))
		}
	}
	return b.Bytes()
}

// podHostname is spec.hostname or the pod's name, cut to 63 characters
// (the agent gives the sandbox the same name).
func podHostname(pod *corev1.Pod) string {
	h := pod.Spec.Hostname
	if h == "" {
		h = pod.Name
	}
	if len(h) > 63 {
		h = strings.TrimRight(h[:63], "-.")
	}
	return h
}
