package cni

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
)

// portmapChainPrefix names the nat chains the portmap plugin creates;
// it leaves its base chains (and the jumps to them) behind after the
// last pod is gone.
const portmapChainPrefix = "CNI-HOSTPORT-"

// RemoveLeftovers deletes what the CNI plugins and the agent leave on the
// host once no pod uses the network: the bridge device, the agent's
// masquerade table and portmap's nat chains in iptables and ip6tables. Call it only when no sandbox on this host uses
// the network any more (tests, `navarch agent` uninstall); missing
// pieces are not an error.
func RemoveLeftovers(ctx context.Context, bridge string) error {
	if bridge != "" {
		if out, err := exec.CommandContext(ctx, "ip", "link", "del", bridge).CombinedOutput(); err != nil &&
			!bytes.Contains(out, []byte("Cannot find device")) {
			return fmt.Errorf("cni: deleting bridge %s: %v: %s", bridge, err, bytes.TrimSpace(out))
		}
	}
	if bridge != "" {
		if err := removeMasquerade(ctx, bridge); err != nil {
			return err
		}
	}
	for _, tool := range []string{"iptables", "ip6tables"} {
		if _, err := exec.LookPath(tool); err != nil {
			continue
		}
		if err := removePortmapChains(ctx, tool); err != nil {
			return err
		}
	}
	return nil
}

// removePortmapChains deletes the rules that jump to portmap chains,
// then flushes and deletes those chains, in the nat table.
func removePortmapChains(ctx context.Context, tool string) error {
	out, err := exec.CommandContext(ctx, tool, "-w", "-t", "nat", "-S").Output()
	if err != nil {
		// No nat table (nothing ever created it): nothing left over.
		return nil
	}
	var chains []string
	for _, line := range strings.Split(string(out), "\n") {
		fields := splitRule(line)
		switch {
		case len(fields) == 2 && fields[0] == "-N" && strings.HasPrefix(fields[1], portmapChainPrefix):
			chains = append(chains, fields[1])
		case len(fields) > 2 && fields[0] == "-A" && !strings.HasPrefix(fields[1], portmapChainPrefix) &&
			strings.Contains(line, "-j "+portmapChainPrefix):
			args := append([]string{"-w", "-t", "nat", "-D"}, fields[1:]...)
			if out, err := exec.CommandContext(ctx, tool, args...).CombinedOutput(); err != nil {
				return fmt.Errorf("cni: %s %s: %v: %s", tool, strings.Join(args, " "), err, bytes.TrimSpace(out))
			}
		}
	}
	for _, verb := range []string{"-F", "-X"} {
		for _, chain := range chains {
			if out, err := exec.CommandContext(ctx, tool, "-w", "-t", "nat", verb, chain).CombinedOutput(); err != nil {
				return fmt.Errorf("cni: %s -t nat %s %s: %v: %s", tool, verb, chain, err, bytes.TrimSpace(out))
			}
		}
	}
	return nil
}

// splitRule splits a line of `iptables -S` into arguments: words
// separated by spaces, where a double-quoted word (a rule comment) may
// hold spaces and backslash-escaped quotes.
func splitRule(line string) []string {
	var args []string
	var word strings.Builder
	inWord, quoted := false, false
	for i := 0; i < len(line); i++ {
		ch := line[i]
		switch {
		case quoted && ch == '\\' && i+1 < len(line):
			i++
			word.WriteByte(line[i])
		case ch == '"':
			quoted, inWord = !quoted, true
		case ch == ' ' && !quoted:
			if inWord {
				args = append(args, word.String())
				word.Reset()
				inWord = false
			}
		default:
			word.WriteByte(ch)
			inWord = true
		}
	}
	if inWord {
		args = append(args, word.String())
	}
	return args
}
