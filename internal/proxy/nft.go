package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strings"

	"k8s.io/klog/v2"
)

// Applier loads an nft script as one transaction: all of it or nothing.
type Applier interface {
	Apply(ctx context.Context, script string) error
}

// Lister reads back which objects a table holds.
type Lister interface {
	// Objects returns the chains, sets and maps of the ip table named
	// table; Exists is false (and the error nil) when there is none.
	Objects(ctx context.Context, table string) (*TableObjects, error)
}

// NFT is the proxy's seam to the kernel's nftables.
type NFT interface {
	Applier
	Lister
}

// TableObjects is what a table holds, as far as syncing needs to know.
type TableObjects struct {
	Exists bool
	// Chains maps each chain's name to "type hook priority" for a hooked
	// chain, "" for a regular one.
	Chains map[string]string
	// Sets maps each set's or map's name to its kind and key type:
	// "set ipv4_addr", "map inet_proto . inet_service : verdict".
	Sets map[string]string
}

// deltaApplier is the optional fast path of partial syncs.
type deltaApplier interface {
	applyDelta(ctx context.Context, table string, d *delta) error
}

// NftCommand talks to nftables through the nft command (nft 1.0.6 and
// later), and sends partial syncs straight over netlink (see netlink.go)
// unless NoNetlink is set.
type NftCommand struct {
	Path string
	// NoNetlink sends partial syncs through nft too.
	NoNetlink bool
}

var (
	_ NFT          = NftCommand{}
	_ deltaApplier = NftCommand{}
)

func (n NftCommand) run(ctx context.Context, stdin string, args ...string) ([]byte, error) {
	path := n.Path
	if path == "" {
		path = "nft"
	}
	cmd := exec.CommandContext(ctx, path, args...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("proxy: nft %s: %w: %s", strings.Join(args, " "), err, firstLines(stderr.String(), 6))
	}
	return stdout.Bytes(), nil
}

// firstLines keeps an error readable when nft quotes a huge script.
func firstLines(s string, n int) string {
	lines := strings.SplitN(strings.TrimSpace(s), "\n", n+1)
	if len(lines) > n {
		lines = append(lines[:n], "...")
	}
	return strings.Join(lines, "\n")
}

// Apply implements Applier with `nft -f -`.
func (n NftCommand) Apply(ctx context.Context, script string) error {
	_, err := n.run(ctx, script, "-f", "-")
	return err
}

// applyDelta sends d as one netlink batch; if that fails it tries the
// same change as an nft script, so a kernel the encoder does not suit
// costs time, not correctness.
func (n NftCommand) applyDelta(ctx context.Context, table string, d *delta) error {
	if n.NoNetlink {
		return n.Apply(ctx, d.script(table))
	}
	b, err := d.netlinkBatch(table)
	if err == nil {
		if err = b.send(); err == nil {
			return nil
		}
	}
	if err2 := n.Apply(ctx, d.script(table)); err2 != nil {
		return errors.Join(err, err2)
	}
	klog.FromContext(ctx).V(1).Info("Partial sync over netlink failed; nft did it", "err", err)
	return nil
}

// Objects implements Lister. It lists chains, sets and maps of the whole
// ip family (without rules or elements, which are slow to list with
// thousands of chains) and keeps the table's.
func (n NftCommand) Objects(ctx context.Context, table string) (*TableObjects, error) {
	objs := &TableObjects{Chains: map[string]string{}, Sets: map[string]string{}}
	for _, what := range []string{"chains", "sets", "maps"} {
		out, err := n.run(ctx, "", "-j", "-t", "list", what, "ip")
		if err != nil {
			return nil, err
		}
		if err := parseObjects(out, table, objs); err != nil {
			return nil, err
		}
	}
	objs.Exists = len(objs.Chains)+len(objs.Sets) > 0
	return objs, nil
}

// nftObject is the part of an `nft -j` chain, set or map we read.
type nftObject struct {
	Table string          `json:"table"`
	Name  string          `json:"name"`
	Type  json.RawMessage `json:"type"` // chain type, or a set's key type (string or list)
	Hook  string          `json:"hook"`
	Prio  json.RawMessage `json:"prio"`
	Map   json.RawMessage `json:"map"` // a map's value type
}

// parseObjects adds the table's objects in an `nft -j list` output to objs.
func parseObjects(out []byte, table string, objs *TableObjects) error {
	var doc struct {
		Nftables []map[string]json.RawMessage `json:"nftables"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		return fmt.Errorf("proxy: reading nft -j output: %w", err)
	}
	for _, item := range doc.Nftables {
		for kind, raw := range item {
			if kind != "chain" && kind != "set" && kind != "map" {
				continue
			}
			var o nftObject
			if err := json.Unmarshal(raw, &o); err != nil {
				return fmt.Errorf("proxy: reading nft -j %s: %w", kind, err)
			}
			if o.Table != table {
				continue
			}
			switch kind {
			case "chain":
				sig := ""
				if o.Hook != "" {
					sig = fmt.Sprintf("%s %s %s", jsonText(o.Type), o.Hook, jsonText(o.Prio))
				}
				objs.Chains[o.Name] = sig
			case "set":
				objs.Sets[o.Name] = "set " + jsonText(o.Type)
			case "map":
				objs.Sets[o.Name] = "map " + jsonText(o.Type) + " : " + jsonText(o.Map)
			}
		}
	}
	return nil
}

// jsonText renders a JSON string, number or list of strings the way nft
// writes types: "a . b".
func jsonText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var list []string
	if json.Unmarshal(raw, &list) == nil {
		return strings.Join(list, " . ")
	}
	return strings.TrimSpace(string(raw))
}
