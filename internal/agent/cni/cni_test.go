package cni

import (
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func testNetwork() Network {
	return Network{Name: "navarch-pods", Bridge: "navarch0", PodCIDR: netip.MustParsePrefix("10.42.3.0/24"), IPAMDataDir: "/var/lib/navarch/agent/cni/ipam"}
}

func TestRenderGolden(t *testing.T) {
	got, err := testNetwork().Render()
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	golden := filepath.Join("testdata", "conflist.json")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("golden file (run with -update to create): %v", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("conflist (-want +got):\n%s", diff)
	}
}

func TestRenderRejects(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Network)
	}{
		{name: "no name", mutate: func(n *Network) { n.Name = "" }},
		{name: "bridge name too long", mutate: func(n *Network) { n.Bridge = "a-very-long-bridge" }},
		{name: "no CIDR", mutate: func(n *Network) { n.PodCIDR = netip.Prefix{} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := testNetwork()
			tt.mutate(&n)
			if _, err := n.Render(); err == nil {
				t.Errorf("Render accepted %+v", n)
			}
		})
	}
}

func TestWriteIsAtomicAndIdempotent(t *testing.T) {
	dir := t.TempDir()
	n := testNetwork()
	if err := n.Write(dir); err != nil {
		t.Fatalf("Write: %v", err)
	}
	path := filepath.Join(dir, ConfListFileName)
	first, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	old := first.ModTime().Add(-time.Hour)
	if err := os.Chtimes(path, old, old); err != nil {
		t.Fatal(err)
	}
	if err := n.Write(dir); err != nil {
		t.Fatalf("second Write: %v", err)
	}
	second, _ := os.Stat(path)
	if !second.ModTime().Equal(old) {
		t.Errorf("an identical conflist was rewritten (containerd would reload it)")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("conf dir holds %d files, want only the conflist (no temp files)", len(entries))
	}
	n.PodCIDR = netip.MustParsePrefix("10.42.4.0/24")
	if err := n.Write(dir); err != nil {
		t.Fatalf("Write of a changed network: %v", err)
	}
	data, _ := os.ReadFile(path)
	want, _ := n.Render()
	if string(data) != string(want) {
		t.Errorf("conflist not updated to the new CIDR")
	}
}

func TestSplitRule(t *testing.T) {
	tests := []struct {
		line string
		want []string
	}{
		{line: "-A POSTROUTING -j CNI-HOSTPORT-MASQ", want: []string{"-A", "POSTROUTING", "-j", "CNI-HOSTPORT-MASQ"}},
		{line: `-A POSTROUTING -m comment --comment "CNI portfwd requiring masquerade" -j CNI-HOSTPORT-MASQ`,
			want: []string{"-A", "POSTROUTING", "-m", "comment", "--comment", "CNI portfwd requiring masquerade", "-j", "CNI-HOSTPORT-MASQ"}},
		{line: `-A X -m comment --comment "name: \"pods\" id: \"abc\"" -j ACCEPT`,
			want: []string{"-A", "X", "-m", "comment", "--comment", `name: "pods" id: "abc"`, "-j", "ACCEPT"}},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, splitRule(tt.line)); diff != "" {
				t.Errorf("splitRule (-want +got):\n%s", diff)
			}
		})
	}
}
