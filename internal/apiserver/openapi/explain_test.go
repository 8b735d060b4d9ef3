package openapi

import (
	"bytes"
	"regexp"
	"testing"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	explainv2 "k8s.io/kubectl/pkg/explain/v2"
)

// TestKubectlExplain runs kubectl explain's own printer over the v3
// documents, as `kubectl explain` does against a server.
func TestKubectlExplain(t *testing.T) {
	srv := newTestServer(t, New(testKinds()))
	client, err := discovery.NewDiscoveryClientForConfig(&rest.Config{Host: srv.URL})
	if err != nil {
		t.Fatalf("NewDiscoveryClientForConfig: %v", err)
	}
	tests := []struct {
		name   string
		gvr    schema.GroupVersionResource
		fields []string
		want   []string // regular expressions the output must match
	}{
		{"kind", schema.GroupVersionResource{Version: "v1", Resource: "nodes"}, nil,
			[]string{`KIND:\s+Node\n`, `VERSION:\s+v1\n`, `spec\s+<NodeSpec>`}},
		{"field", schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}, []string{"spec", "replicas"},
			[]string{`GROUP:\s+apps\n`, `KIND:\s+Deployment\n`, `FIELD: replicas <integer>`}},
		{"nested list", schema.GroupVersionResource{Version: "v1", Resource: "pods"}, []string{"spec", "containers"},
			[]string{`FIELD: containers <\[\]Container>`, `image\s+<string>`}},
		{"quantity", schema.GroupVersionResource{Version: "v1", Resource: "pods"}, []string{"spec", "overhead"},
			[]string{`FIELD: overhead <map\[string\]Quantity>`}},
		{"group kind", schema.GroupVersionResource{Group: "coordination.k8s.io", Version: "v1", Resource: "leases"}, []string{"spec"},
			[]string{`KIND:\s+Lease\n`, `holderIdentity\s+<string>`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			if err := explainv2.PrintModelDescription(tt.fields, &out, client.OpenAPIV3(), tt.gvr, false, 0, "plaintext"); err != nil {
				t.Fatalf("explain %v %v: %v", tt.gvr, tt.fields, err)
			}
			for _, want := range tt.want {
				if !regexp.MustCompile(want).Match(out.Bytes()) {
					t.Errorf("explain %v %v: output does not match %q; got:\n%s", tt.gvr, tt.fields, want, out.String())
				}
			}
		})
	}
}
