package proxy

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// listTable returns what the kernel holds in an ip table, one line per
// object, independent of the table's name, handles, creation order and
// set element order: two tables list the same iff they hold the same
// rules.
func listTable(t testing.TB, table string) []string {
	t.Helper()
	out, err := exec.Command("nft", "-j", "list", "table", "ip", table).CombinedOutput()
	if err != nil {
		t.Fatalf("nft list table %s: %v\n%s", table, err, out)
	}
	var doc struct {
		Nftables []map[string]map[string]interface{} `json:"nftables"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatal(err)
	}
	ruleIndex := map[string]int{}
	var lines []string
	for _, item := range doc.Nftables {
		for kind, obj := range item {
			if kind == "metainfo" || kind == "table" {
				continue
			}
			delete(obj, "handle")
			delete(obj, "table")
			name, _ := obj["name"].(string)
			if kind == "rule" {
				chain, _ := obj["chain"].(string)
				name = fmt.Sprintf("%s#%03d", chain, ruleIndex[chain])
				ruleIndex[chain]++
			}
			if elems, ok := obj["elem"].([]interface{}); ok {
				sort.Slice(elems, func(i, j int) bool { return jsonString(elems[i]) < jsonString(elems[j]) })
			}
			lines = append(lines, fmt.Sprintf("%s %s %s", kind, name, jsonString(obj)))
		}
	}
	sort.Strings(lines)
	return lines
}

func jsonString(v interface{}) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// diffTables returns "" when two listings (listTable) are the same, else
// a readable diff.
func diffTables(want, got []string) string {
	if cmp.Equal(want, got) {
		return ""
	}
	return cmp.Diff(strings.Join(want, "\n"), strings.Join(got, "\n"))
}
