package integration

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"k8s.io/client-go/rest"

	"github.com/navarch/navarch/test/framework"
)

// rawHTTP sends hand-made requests with the admin's credentials.
type rawHTTP struct {
	client *http.Client
	base   string
}

func rawClient(t *testing.T, c *framework.Cluster) *rawHTTP {
	cfg := c.RESTConfig(t)
	transport, err := rest.TransportFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &rawHTTP{client: &http.Client{Transport: transport}, base: cfg.Host}
}

func (r *rawHTTP) do(t *testing.T, method, path, contentType, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, r.base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := r.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(data)
}
