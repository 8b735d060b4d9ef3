package archtest

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/navarch/navarch/"

// rule forbids packages under from (a path prefix inside the module) to
// import packages under any of the forbidden prefixes.
type rule struct {
	from   string
	forbid []string
	why    string
}

var rules = []rule{
	{"internal/controller", []string{"internal/apiserver", "internal/storage", "internal/server", "internal/agent", "internal/proxy", "internal/dns", "internal/ingress", "internal/scheduler"},
		"controllers reach other components only through the API"},
	{"internal/scheduler", []string{"internal/apiserver", "internal/storage", "internal/server", "internal/controller", "internal/agent"},
		"the scheduler reaches other components only through the API"},
	{"internal/agent", []string{"internal/apiserver", "internal/storage", "internal/server", "internal/controller", "internal/scheduler"},
		"the agent reaches other components only through the API"},
	{"internal/proxy", []string{"internal/apiserver", "internal/storage", "internal/server", "internal/controller", "internal/agent"},
		"the proxy reads the API only"},
	{"internal/dns", []string{"internal/apiserver", "internal/storage", "internal/server", "internal/controller", "internal/agent"},
		"the DNS server reads the API only"},
	{"internal/ingress", []string{"internal/apiserver", "internal/storage", "internal/server", "internal/controller", "internal/agent"},
		"the ingress controller reads the API only"},
	{"internal/registry", []string{"internal/apiserver", "internal/storage", "internal/server", "internal/controller", "internal/agent", "internal/cli"},
		"registry entries are pure kind rules"},
	{"internal/storage", []string{"internal/apiserver", "internal/registry", "internal/server", "internal/controller"},
		"storage knows nothing of the API"},
	{"internal/api", []string{"internal/"}, "internal/api is a leaf"},
	{"internal/version", []string{"internal/"}, "internal/version is a leaf"},
	{"examples/", []string{"internal/"}, "the course's programs are standalone"},
}

// storageImporters may import internal/storage (besides storage itself).
var storageImporters = []string{"internal/apiserver", "internal/server", "internal/storage", "test/"}

type pkg struct {
	ImportPath string
	Imports    []string
}

// TestImportDirections lists every package of the module with go list and
// checks its imports against the rules above.
func TestImportDirections(t *testing.T) {
	out, err := exec.Command("go", "list", "-json=ImportPath,Imports", module+"...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	checked := 0
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		from := strings.TrimPrefix(p.ImportPath, module)
		checked++
		for _, imp := range p.Imports {
			if !strings.HasPrefix(imp, module) {
				continue
			}
			to := strings.TrimPrefix(imp, module)
			for _, r := range rules {
				if !under(from, r.from) {
					continue
				}
				for _, f := range r.forbid {
					if under(to, f) && !under(to, r.from) {
						t.Errorf("%s imports %s: %s", from, to, r.why)
					}
				}
			}
			if under(to, "internal/storage") && !anyUnder(from, storageImporters) {
				t.Errorf("%s imports %s: only the API server and the server touch storage", from, to)
			}
		}
	}
	if checked < 20 {
		t.Fatalf("checked only %d packages", checked)
	}
}

// under reports whether path is prefix or inside it (prefix may end in /).
func under(path, prefix string) bool {
	prefix = strings.TrimSuffix(prefix, "/")
	return path == prefix || strings.HasPrefix(path, prefix+"/")
}

func anyUnder(path string, prefixes []string) bool {
	for _, p := range prefixes {
		if under(path, p) {
			return true
		}
	}
	return false
}
