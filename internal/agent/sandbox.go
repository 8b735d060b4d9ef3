package agent

import (
	"bufio"
	"bytes"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"

	corev1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/navarch/navarch/internal/agent/cri"
)

// podLabels are the CRI labels of a pod's sandbox: the pod's own labels
// plus the kubelet's identifying ones.
func podLabels(pod *corev1.Pod) map[string]string {
	labels := maps.Clone(pod.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	labels[cri.LabelPodName] = pod.Name
	labels[cri.LabelPodNamespace] = pod.Namespace
	labels[cri.LabelPodUID] = string(pod.UID)
	labels[cri.LabelManagedBy] = cri.ManagedByAgent
	return labels
}

// podLogDirectory is where the runtime writes the pod's container logs
// (<root>/<namespace>_<name>_<uid>, as the kubelet's /var/log/pods).
func podLogDirectory(root string, pod *corev1.Pod) string {
	return filepath.Join(root, fmt.Sprintf("%s_%s_%s", pod.Namespace, pod.Name, pod.UID))
}

// containerLogPath is a container's log file, relative to the pod's log
// directory: <container>/<attempt>.log.
func containerLogPath(name string, attempt uint32) string {
	return filepath.Join(name, fmt.Sprintf("%d.log", attempt))
}

// podHostname is the pod's hostname: spec.hostname or its name, cut to
// 63 characters as a DNS label must be.
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

// hostResolv is the host's resolver configuration.
type hostResolv struct {
	servers, searches, options []string
}

// parseResolvConf reads nameserver, search/domain and options lines.
func parseResolvConf(data []byte) hostResolv {
	var r hostResolv
	s := bufio.NewScanner(bytes.NewReader(data))
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) < 2 || strings.HasPrefix(fields[0], "#") || strings.HasPrefix(fields[0], ";") {
			continue
		}
		switch fields[0] {
		case "nameserver":
			r.servers = append(r.servers, fields[1])
		case "search", "domain":
			r.searches = fields[1:]
		case "options":
			r.options = append(r.options, fields[1:]...)
		}
	}
	return r
}

// dnsSettings is what a pod's DNS config is made from.
type dnsSettings struct {
	clusterDNS    []string
	clusterDomain string
	host          hostResolv
}

// readHostResolv reads path; a missing file gives an empty config.
func readHostResolv(path string) hostResolv {
	data, err := os.ReadFile(path)
	if err != nil {
		return hostResolv{}
	}
	return parseResolvConf(data)
}

// podDNSConfig returns the pod's resolver configuration for its
// dnsPolicy, as the kubelet builds it: ClusterFirst gives the cluster
// nameserver, the namespace's search path followed by the host's, and
// ndots:5; Default gives the host's; None gives only spec.dnsConfig,
// which the other policies also merge in.
func podDNSConfig(pod *corev1.Pod, s dnsSettings) *runtimeapi.DNSConfig {
	policy := pod.Spec.DNSPolicy
	if policy == "" {
		policy = corev1.DNSClusterFirst
	}
	if policy == corev1.DNSClusterFirst && pod.Spec.HostNetwork {
		// ClusterFirst with hostNetwork falls back to the host's config;
		// ClusterFirstWithHostNet is what asks for the cluster's.
		policy = corev1.DNSDefault
	}
	cfg := &runtimeapi.DNSConfig{}
	switch policy {
	case corev1.DNSClusterFirst, corev1.DNSClusterFirstWithHostNet:
		cfg.Servers = append(cfg.Servers, s.clusterDNS...)
		cfg.Searches = []string{
			pod.Namespace + ".svc." + s.clusterDomain,
			"svc." + s.clusterDomain,
			s.clusterDomain,
		}
		cfg.Searches = append(cfg.Searches, s.host.searches...)
		cfg.Options = []string{"ndots:5"}
	case corev1.DNSDefault:
		cfg.Servers = append(cfg.Servers, s.host.servers...)
		cfg.Searches = append(cfg.Searches, s.host.searches...)
		cfg.Options = append(cfg.Options, s.host.options...)
	}
	if extra := pod.Spec.DNSConfig; extra != nil {
		cfg.Servers = appendUnique(cfg.Servers, extra.Nameservers...)
		cfg.Searches = appendUnique(cfg.Searches, extra.Searches...)
		for _, o := range extra.Options {
			opt := o.Name
			if o.Value != nil {
				opt += ":" + *o.Value
			}
			cfg.Options = mergeOption(cfg.Options, o.Name, opt)
		}
	}
	// resolv.conf allows at most 32 search domains.
	if len(cfg.Searches) > 32 {
		cfg.Searches = cfg.Searches[:32]
	}
	return cfg
}

func appendUnique(list []string, items ...string) []string {
	for _, it := range items {
		found := false
		for _, x := range list {
			if x == it {
				found = true
				break
			}
		}
		if !found {
			list = append(list, it)
		}
	}
	return list
}

// mergeOption replaces the option named name (with or without a value)
// or appends opt.
func mergeOption(options []string, name, opt string) []string {
	for i, o := range options {
		if o == name || strings.HasPrefix(o, name+":") {
			options[i] = opt
			return options
		}
	}
	return append(options, opt)
}

// sandboxConfig builds the CRI sandbox config of pod.
func sandboxConfig(pod *corev1.Pod, attempt uint32, logRoot string, dns dnsSettings) *runtimeapi.PodSandboxConfig {
	cfg := &runtimeapi.PodSandboxConfig{
		Metadata:     &runtimeapi.PodSandboxMetadata{Name: pod.Name, Namespace: pod.Namespace, Uid: string(pod.UID), Attempt: attempt},
		Hostname:     podHostname(pod),
		LogDirectory: podLogDirectory(logRoot, pod),
		DnsConfig:    podDNSConfig(pod, dns),
		Labels:       podLabels(pod),
		Annotations:  maps.Clone(pod.Annotations),
		Linux: &runtimeapi.LinuxPodSandboxConfig{
			SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{
				NamespaceOptions: podNamespaceOptions(pod),
			},
		},
	}
	if pod.Spec.HostNetwork {
		// A host-network pod has the node's hostname.
		cfg.Hostname = ""
	}
	if sc := pod.Spec.SecurityContext; sc != nil {
		lsc := cfg.Linux.SecurityContext
		if sc.RunAsUser != nil {
			lsc.RunAsUser = &runtimeapi.Int64Value{Value: *sc.RunAsUser}
		}
		if sc.RunAsGroup != nil {
			lsc.RunAsGroup = &runtimeapi.Int64Value{Value: *sc.RunAsGroup}
		}
		lsc.SupplementalGroups = sc.SupplementalGroups
		for _, s := range sc.Sysctls {
			if cfg.Linux.Sysctls == nil {
				cfg.Linux.Sysctls = map[string]string{}
			}
			cfg.Linux.Sysctls[s.Name] = s.Value
		}
	}
	for _, c := range pod.Spec.Containers {
		if c.SecurityContext != nil && c.SecurityContext.Privileged != nil && *c.SecurityContext.Privileged {
			// The runtime refuses a privileged container in an
			// unprivileged sandbox.
			cfg.Linux.SecurityContext.Privileged = true
		}
		for _, p := range c.Ports {
			if p.HostPort <= 0 {
				continue
			}
			cfg.PortMappings = append(cfg.PortMappings, &runtimeapi.PortMapping{
				Protocol:      criProtocol(p.Protocol),
				ContainerPort: p.ContainerPort,
				HostPort:      p.HostPort,
				HostIp:        p.HostIP,
			})
		}
	}
	return cfg
}

// podNamespaceOptions: the pod shares network and IPC (and, with
// shareProcessNamespace, PID) among its containers, or the node's with
// hostNetwork/hostIPC/hostPID.
func podNamespaceOptions(pod *corev1.Pod) *runtimeapi.NamespaceOption {
	ns := &runtimeapi.NamespaceOption{
		Network: runtimeapi.NamespaceMode_POD,
		Pid:     runtimeapi.NamespaceMode_CONTAINER,
		Ipc:     runtimeapi.NamespaceMode_POD,
	}
	if pod.Spec.HostNetwork {
		ns.Network = runtimeapi.NamespaceMode_NODE
	}
	if pod.Spec.HostIPC {
		ns.Ipc = runtimeapi.NamespaceMode_NODE
	}
	switch {
	case pod.Spec.HostPID:
		ns.Pid = runtimeapi.NamespaceMode_NODE
	case pod.Spec.ShareProcessNamespace != nil && *pod.Spec.ShareProcessNamespace:
		ns.Pid = runtimeapi.NamespaceMode_POD
	}
	return ns
}

func criProtocol(p corev1.Protocol) runtimeapi.Protocol {
	switch p {
	case corev1.ProtocolUDP:
		return runtimeapi.Protocol_UDP
	case corev1.ProtocolSCTP:
		return runtimeapi.Protocol_SCTP
	}
	return runtimeapi.Protocol_TCP
}
