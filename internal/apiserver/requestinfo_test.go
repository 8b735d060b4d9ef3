package apiserver

import (
	"net/http/httptest"
	"testing"
)

// TestParseRequestInfoProxy checks what an authorizer would see of the
// proxy subresources: the resource, the name as written (with scheme and
// port), the subresource "proxy" whatever path follows, and the verb of
// the method, as upstream's RequestInfoFactory reads them.
func TestParseRequestInfoProxy(t *testing.T) {
	tests := []struct {
		method, path                                 string
		verb, namespace, resource, name, subresource string
	}{
		{"GET", "/api/v1/namespaces/ns/pods/web:8080/proxy/a/b?x=1", "get", "ns", "pods", "web:8080", "proxy"},
		{"HEAD", "/api/v1/namespaces/ns/pods/web/proxy", "get", "ns", "pods", "web", "proxy"},
		{"POST", "/api/v1/namespaces/ns/services/https:web:https/proxy/", "create", "ns", "services", "https:web:https", "proxy"},
		{"PUT", "/api/v1/namespaces/ns/services/web/proxy/status", "update", "ns", "services", "web", "proxy"},
		{"PATCH", "/api/v1/nodes/n1/proxy/stats/summary", "patch", "", "nodes", "n1", "proxy"},
		{"DELETE", "/api/v1/nodes/n1:10250/proxy/x", "delete", "", "nodes", "n1:10250", "proxy"},
	}
	for _, tt := range tests {
		info := parseRequestInfo(httptest.NewRequest(tt.method, tt.path, nil))
		if !info.IsResource || info.Verb != tt.verb || info.Namespace != tt.namespace || info.Resource != tt.resource ||
			info.Name != tt.name || info.Subresource != tt.subresource {
			t.Errorf("%s %s: %+v; want verb %s namespace %q %s/%s name %q", tt.method, tt.path, info, tt.verb, tt.namespace, tt.resource, tt.subresource, tt.name)
		}
	}
}
