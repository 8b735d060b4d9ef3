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

func TestLongRunning(t *testing.T) {
	tests := []struct {
		method, path string
		want         bool
	}{
		{"GET", "/api/v1/namespaces/ns/pods?watch=true&resourceVersion=5", true},
		{"GET", "/api/v1/pods?watch=1", true},
		{"GET", "/api/v1/watch/namespaces/ns/pods", true},
		{"GET", "/apis/apps/v1/watch/deployments", true},
		{"GET", "/api/v1/namespaces/ns/pods/web/log?follow=true", true},
		{"GET", "/api/v1/namespaces/ns/pods/web/log", true},
		{"POST", "/api/v1/namespaces/ns/pods/web/exec?command=sh", true},
		{"GET", "/api/v1/namespaces/ns/pods/web/attach", true},
		{"POST", "/api/v1/namespaces/ns/pods/web/portforward", true},
		{"GET", "/api/v1/namespaces/ns/services/web:80/proxy/", true},
		{"GET", "/api/v1/nodes/n1/proxy/stats/summary", true},
		{"GET", "/debug/pprof/profile?seconds=30", true},
		{"GET", "/somewhere/else", true},
		{"GET", "/api/v1/namespaces/ns/pods", false},
		{"GET", "/api/v1/namespaces/ns/pods/web", false},
		{"POST", "/api/v1/namespaces/ns/pods", false},
		{"POST", "/api/v1/namespaces/ns/pods/web/binding", false},
		{"PUT", "/api/v1/namespaces/ns/pods/web/status", false},
		{"PATCH", "/apis/apps/v1/namespaces/ns/deployments/web/scale", false},
		{"DELETE", "/api/v1/namespaces/ns/pods/web", false},
		{"POST", "/api/v1/namespaces/ns/events", false},
		{"GET", "/healthz", false},
		{"GET", "/version", false},
		{"GET", "/api", false},
		{"GET", "/apis/apps/v1", false},
		{"GET", "/openapi/v3/api/v1", false},
	}
	for _, tt := range tests {
		if got := LongRunning(httptest.NewRequest(tt.method, tt.path, nil)); got != tt.want {
			t.Errorf("LongRunning(%s %s) = %v, want %v", tt.method, tt.path, got, tt.want)
		}
	}
}
