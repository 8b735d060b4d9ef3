package apiserver

import (
	"net/http"
	"strings"
)

// requestInfo is what a resource URL says: which group, version, resource,
// namespace, name and subresource, and which verb the method implies.
type requestInfo struct {
	IsResource  bool // false for /api, /apis, /version, /healthz...
	Verb        string
	APIPrefix   string // "api" or "apis"
	Group       string
	Version     string
	Namespace   string
	Resource    string
	Name        string
	Subresource string
	// Parts are the path segments after the group/version.
	Parts []string
}

// namespaceSubresources are the subresources of a namespace object: in
// /api/v1/namespaces/NAME/status the third segment is not a resource.
var namespaceSubresources = map[string]bool{"status": true, "finalize": true}

// parseRequestInfo reads a Kubernetes API path the way upstream's
// RequestInfoFactory does:
//
//	/api/v1[/namespaces/NS]/RESOURCE[/NAME[/SUBRESOURCE]]
//	/apis/GROUP/VERSION[/namespaces/NS]/RESOURCE[/NAME[/SUBRESOURCE]]
//	/api/v1/watch/...   (deprecated watch prefix)
func parseRequestInfo(r *http.Request) requestInfo {
	info := requestInfo{}
	parts := splitPath(r.URL.Path)
	if len(parts) < 2 || (parts[0] != "api" && parts[0] != "apis") {
		return info
	}
	info.APIPrefix = parts[0]
	parts = parts[1:]
	if info.APIPrefix == "apis" {
		if len(parts) < 2 {
			return info
		}
		info.Group, parts = parts[0], parts[1:]
	}
	info.Version, parts = parts[0], parts[1:]
	if len(parts) == 0 {
		return info
	}
	info.IsResource = true

	watchPrefix := false
	if parts[0] == "watch" {
		watchPrefix = true
		parts = parts[1:]
		if len(parts) == 0 {
			info.IsResource = false
			return info
		}
	}
	if parts[0] == "namespaces" && len(parts) > 1 {
		info.Namespace = parts[1]
		if len(parts) > 2 && !namespaceSubresources[parts[2]] {
			parts = parts[2:]
		}
	}
	info.Parts = parts
	info.Resource = parts[0]
	if len(parts) > 1 {
		info.Name = parts[1]
	}
	if len(parts) > 2 {
		info.Subresource = parts[2]
	}
	if info.Resource == "namespaces" && info.Name != "" {
		// The namespace object's own namespace is empty.
		info.Namespace = ""
	}

	switch r.Method {
	case http.MethodGet, http.MethodHead:
		switch {
		case watchPrefix:
			info.Verb = "watch"
		case info.Name == "" && isTrue(r.URL.Query().Get("watch")):
			info.Verb = "watch"
		case info.Name == "":
			info.Verb = "list"
		default:
			info.Verb = "get"
		}
	case http.MethodPost:
		info.Verb = "create"
	case http.MethodPut:
		info.Verb = "update"
	case http.MethodPatch:
		info.Verb = "patch"
	case http.MethodDelete:
		if info.Name == "" {
			info.Verb = "deletecollection"
		} else {
			info.Verb = "delete"
		}
	default:
		info.Verb = strings.ToLower(r.Method)
	}
	return info
}

func splitPath(p string) []string {
	p = strings.Trim(p, "/")
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

func isTrue(s string) bool { return s == "true" || s == "1" }

// longRunningSubresources answer with a stream or a connection kept open
// (upstream's long-running request check names the same).
var longRunningSubresources = map[string]bool{"log": true, "exec": true, "attach": true, "portforward": true, "proxy": true}

// LongRunning reports whether the API server may answer r with a stream
// or hold it open for long: watches, and the log, exec, attach,
// portforward and proxy subresources; and, to be safe, any path it does
// not know as short. Everything else is answered in one piece once its
// handler returns. It reads only the method and the URL.
func LongRunning(r *http.Request) bool {
	if strings.Contains(r.URL.RawQuery, "watch") || strings.Contains(r.URL.RawQuery, "follow") {
		return true
	}
	info := parseRequestInfo(r)
	if !info.IsResource {
		p := r.URL.Path
		short := p == "/" || isPublicPath(p) || p == "/api" || p == "/apis" ||
			strings.HasPrefix(p, "/api/") || strings.HasPrefix(p, "/apis/") || strings.HasPrefix(p, "/openapi/")
		return !short
	}
	return info.Verb == "watch" || longRunningSubresources[info.Subresource]
}
