package cni

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
)

// The node's pods reach the world through source NAT: what leaves the pod
// CIDR for any address outside it (multicast aside) goes out from the
// node's address. The bridge plugin can do this itself (ipMasq), but it
// does it per pod: an iptables chain and a jump to it for every sandbox,
// made and removed by several iptables processes on each ADD and DEL
// (about 60 ms of a pod's start and as much of its removal on a loaded
// 2-core machine, and more as the chains pile up), and left behind
// whenever a DEL is lost. One nftables rule for the whole CIDR, set once
// when the agent starts, costs nothing per pod.

// masqueradeTable names the nftables table holding the masquerade rule
// of the pods on bridge; one per bridge, so that agents on separate
// bridges (tests, benchmarks) keep their own.
func masqueradeTable(bridge string) string { return "navarch-pods-" + bridge }

// MasqueradeScript returns the nft script that (re)creates n's masquerade
// table in one transaction: the table is replaced whole, never seen
// without its rule.
func (n Network) MasqueradeScript() (string, error) {
	if n.Bridge == "" || !n.PodCIDR.IsValid() {
		return "", fmt.Errorf("cni: incomplete network %+v", n)
	}
	family, addr, multicast := "ip", "ip", "224.0.0.0/4"
	if n.PodCIDR.Addr().Is6() {
		family, addr, multicast = "ip6", "ip6", "ff00::/8"
	}
	table, cidr := masqueradeTable(n.Bridge), n.PodCIDR.Masked().String()
	var b strings.Builder
	fmt.Fprintf(&b, "add table %s %s\ndelete table %s %s\n", family, table, family, table)
	fmt.Fprintf(&b, "table %s %s {\n", family, table)
	b.WriteString("\tchain postrouting {\n")
	b.WriteString("\t\ttype nat hook postrouting priority srcnat; policy accept;\n")
	fmt.Fprintf(&b, "\t\t%s saddr %s %s daddr != %s %s daddr != %s masquerade comment \"pods of %s leave from the node's address\"\n",
		addr, cidr, addr, cidr, addr, multicast, n.Bridge)
	b.WriteString("\t}\n}\n")
	return b.String(), nil
}

// EnsureMasquerade programs n's masquerade rule into the kernel (see
// MasqueradeScript). It replaces the table each time, so it heals a
// changed or deleted rule.
func (n Network) EnsureMasquerade(ctx context.Context) error {
	script, err := n.MasqueradeScript()
	if err != nil {
		return err
	}
	return runNft(ctx, script)
}

// removeMasquerade deletes the masquerade tables of bridge, in both
// families; missing ones are not an error.
func removeMasquerade(ctx context.Context, bridge string) error {
	if _, err := exec.LookPath("nft"); err != nil {
		return nil // without nft, no agent could have made one
	}
	table := masqueradeTable(bridge)
	var b strings.Builder
	for _, family := range []string{"ip", "ip6"} {
		fmt.Fprintf(&b, "add table %s %s\ndelete table %s %s\n", family, table, family, table)
	}
	return runNft(ctx, b.String())
}

// runNft loads script with `nft -f -`, as one transaction.
func runNft(ctx context.Context, script string) error {
	path, err := exec.LookPath("nft")
	if err != nil {
		return errors.New("cni: the nft command is missing (Debian package nftables; hack/install-deps.sh installs it)")
	}
	cmd := exec.CommandContext(ctx, path, "-f", "-")
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("cni: nft -f: %v: %s", err, bytes.TrimSpace(out))
	}
	return nil
}
