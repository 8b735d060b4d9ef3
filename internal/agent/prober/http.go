package prober

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/navarch/navarch/internal/version"
)

// maxBodyLength bounds how much of a probe's answer is read (as the
// kubelet: 10 KiB).
const maxBodyLength = 10 << 10

// maxRedirects bounds how many same-host redirects a probe follows.
const maxRedirects = 10

// transport is shared by every probe and hook request: no keep-alive
// (each probe is a fresh connection, as the kubelet's), no proxy, no
// certificate verification (probes check liveness, not identity).
var transport = &http.Transport{
	Proxy:               nil,
	DialContext:         (&net.Dialer{Timeout: 30 * time.Second}).DialContext,
	TLSClientConfig:     &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // as the kubelet's probes
	TLSHandshakeTimeout: 10 * time.Second,
	DisableKeepAlives:   true,
	DisableCompression:  true,
}

// NewHTTPGetRequest builds the GET request of an httpGet handler, as the
// kubelet does: host the handler's or podIP, scheme HTTP unless HTTPS,
// port by number or container port name, the handler's headers (a Host
// header sets the request's host) and User-Agent kube-PURPOSE/1.37
// unless the handler sets one. purpose is "probe" or "lifecycle".
func NewHTTPGetRequest(ctx context.Context, action *corev1.HTTPGetAction, c *corev1.Container, podIP, purpose string) (*http.Request, error) {
	scheme := strings.ToLower(string(action.Scheme))
	if scheme == "" {
		scheme = "http"
	}
	host := action.Host
	if host == "" {
		host = podIP
	}
	port, err := ResolvePort(action.Port, c)
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(action.Path)
	if err != nil {
		// A path the URL parser refuses is sent as it is.
		u = &url.URL{Path: action.Path}
	}
	u.Scheme = scheme
	u.Host = net.JoinHostPort(host, strconv.Itoa(port))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("prober: %w", err)
	}
	headers := http.Header{}
	for _, h := range action.HTTPHeaders {
		headers.Add(h.Name, h.Value)
	}
	if _, ok := headers["User-Agent"]; !ok {
		headers.Set("User-Agent", fmt.Sprintf("kube-%s/%s.%s", purpose, version.KubernetesMajor, version.KubernetesMinor))
	}
	if _, ok := headers["Accept"]; !ok {
		headers.Set("Accept", "*/*")
	} else if headers.Get("Accept") == "" {
		headers.Del("Accept")
	}
	req.Header = headers
	req.Host = headers.Get("Host")
	return req, nil
}

// Send sends req (0 timeout: none but req's context), following
// redirects only to the same host, at most 10, as the kubelet's probes;
// a redirect elsewhere is returned as the answer.
func Send(req *http.Request, timeout time.Duration) (*http.Response, error) {
	client := &http.Client{Timeout: timeout, Transport: transport, CheckRedirect: sameHostRedirects}
	return client.Do(req)
}

func sameHostRedirects(req *http.Request, via []*http.Request) error {
	if req.URL.Hostname() != via[0].URL.Hostname() {
		return http.ErrUseLastResponse
	}
	if len(via) >= maxRedirects {
		return errors.New("stopped after 10 redirects")
	}
	return nil
}

// HTTPGet runs an httpGet check: any status from 200 to 399 passes (a
// redirect to another host with a warning), anything else or no answer
// within timeout fails. The output is what the kubelet's events quote.
func HTTPGet(req *http.Request, timeout time.Duration) (Outcome, string) {
	resp, err := Send(req, timeout)
	if err != nil {
		return Failed, err.Error()
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBodyLength))
	if err != nil {
		return Failed, err.Error()
	}
	if resp.StatusCode >= http.StatusOK && resp.StatusCode < http.StatusBadRequest {
		if resp.StatusCode >= http.StatusMultipleChoices {
			return Warned, fmt.Sprintf("Probe terminated redirects, Response body: %s", body)
		}
		return Succeeded, string(body)
	}
	// As the kubelet: the body stays out of the message (it may hold
	// secrets, and events are widely readable).
	return Failed, fmt.Sprintf("HTTP probe failed with statuscode: %d", resp.StatusCode)
}
