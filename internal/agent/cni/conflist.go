package cni

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
)

// ConfListFileName is the file Write puts in the conf dir. containerd
// loads the first conflist in name order (max_conf_num = 1).
const ConfListFileName = "10-navarch.conflist"

// DefaultBridge is the bridge device pods attach to.
const DefaultBridge = "navarch0"

// Network describes the pod network of one node.
type Network struct {
	// Name is the CNI network name.
	Name string
	// Bridge is the Linux bridge device (at most 15 characters).
	Bridge string
	// PodCIDR is the node's pod range; the bridge takes its first
	// address as the pods' gateway.
	PodCIDR netip.Prefix
	// IPAMDataDir is where host-local records which IP each sandbox
	// holds; it must survive agent restarts so adopted pods keep theirs.
	IPAMDataDir string
}

// Render returns the conflist JSON for n.
func (n Network) Render() ([]byte, error) {
	if n.Name == "" || n.Bridge == "" || !n.PodCIDR.IsValid() || n.IPAMDataDir == "" {
		return nil, fmt.Errorf("cni: incomplete network %+v", n)
	}
	if len(n.Bridge) > 15 {
		return nil, fmt.Errorf("cni: bridge name %q is longer than 15 characters", n.Bridge)
	}
	defaultRoute := "0.0.0.0/0"
	if n.PodCIDR.Addr().Is6() {
		defaultRoute = "::/0"
	}
	type object = map[string]any
	conf := object{
		"cniVersion": "1.0.0",
		"name":       n.Name,
		"plugins": []object{
			{
				"type": "bridge", "bridge": n.Bridge, "isGateway": true, "hairpinMode": true,
				// No ipMasq: the agent masquerades the whole CIDR with one
				// nftables rule (masquerade.go).
				"ipam": object{
					"type":    "host-local",
					"ranges":  [][]object{{{"subnet": n.PodCIDR.Masked().String()}}},
					"routes":  []object{{"dst": defaultRoute}},
					"dataDir": n.IPAMDataDir,
				},
			},
			{"type": "portmap", "capabilities": object{"portMappings": true}},
		},
	}
	data, err := json.MarshalIndent(conf, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("cni: %w", err)
	}
	return append(data, '\n'), nil
}

// Write renders n into confDir/ConfListFileName, atomically (containerd
// watches the directory and must never read half a file). It leaves an
// identical file untouched.
func (n Network) Write(confDir string) error {
	data, err := n.Render()
	if err != nil {
		return err
	}
	path := filepath.Join(confDir, ConfListFileName)
	if old, err := os.ReadFile(path); err == nil && string(old) == string(data) {
		return nil
	}
	if err := os.MkdirAll(confDir, 0o755); err != nil {
		return fmt.Errorf("cni: %w", err)
	}
	tmp, err := os.CreateTemp(confDir, ".conflist-")
	if err != nil {
		return fmt.Errorf("cni: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("cni: writing conflist: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("cni: writing conflist: %w", err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return fmt.Errorf("cni: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("cni: installing conflist: %w", err)
	}
	return nil
}
