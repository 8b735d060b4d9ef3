package app

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func newAuth(now time.Time) *Auth {
	return &Auth{Secret: []byte("s3cret"), Users: []User{DefaultUser()}, Now: func() time.Time { return now }}
}

func TestLoginAndSecure(t *testing.T) {
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	a := newAuth(now)
	var log bytes.Buffer
	srv := httptest.NewServer(Mux(a, Routes{Hello: true, Secure: true, Login: true}, NewAccessLog(&log)))
	defer srv.Close()

	get := func(path string, set func(*http.Request)) (int, string) {
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		if set != nil {
			set(req)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, strings.TrimSpace(string(body))
	}
	if code, body := get("/", nil); code != 200 || body != `{"message":"Hello"}` {
		t.Fatalf("/ = %d %s", code, body)
	}
	if code, body := get("/secure", nil); code != 401 || body != "authorization failed" {
		t.Fatalf("/secure without token = %d %q", code, body)
	}
	if code, _ := get("/login", func(r *http.Request) { r.SetBasicAuth("user", "wrong") }); code != 401 {
		t.Fatalf("wrong password: %d, want 401", code)
	}
	if code, _ := get("/login", func(r *http.Request) { r.SetBasicAuth("nobody", "password") }); code != 401 {
		t.Fatalf("unknown user: %d, want 401", code)
	}
	code, body := get("/login", func(r *http.Request) { r.SetBasicAuth("user", "password") })
	if code != 200 {
		t.Fatalf("login: %d %s", code, body)
	}
	var resp struct{ Token string }
	if err := json.Unmarshal([]byte(body), &resp); err != nil || resp.Token == "" {
		t.Fatalf("login body %q", body)
	}
	claims, err := a.Verify(resp.Token)
	if err != nil {
		t.Fatal(err)
	}
	if claims.Issuer != Issuer || claims.Subject != "user" || claims.Email != "user@example.com" || claims.ExpiresAt == nil || claims.IssuedAt == nil {
		t.Fatalf("claims = %+v", claims)
	}
	bearer := func(tok string) func(*http.Request) {
		return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
	}
	if code, body := get("/secure", bearer(resp.Token)); code != 200 || body != `{"message":"Hello"}` {
		t.Fatalf("/secure with token = %d %s", code, body)
	}
	// Tampered, wrongly signed, unsigned and expired tokens are all 401.
	parts := strings.Split(resp.Token, ".")
	tampered := parts[0] + "." + parts[1] + "x." + parts[2]
	other, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte("other"))
	none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, claims).SignedString(jwt.UnsafeAllowNoneSignatureType)
	later := newAuth(now.Add(TokenLifetime + time.Minute))
	for name, tok := range map[string]string{"tampered": tampered, "other key": other, "alg none": none, "garbage": "a.b.c"} {
		if code, _ := get("/secure", bearer(tok)); code != 401 {
			t.Errorf("%s token: %d, want 401", name, code)
		}
	}
	if _, err := later.Verify(resp.Token); err == nil {
		t.Errorf("expired token accepted")
	}
	if code, body := get("/version", nil); code != 200 || body != `{"version":"1.0.0"}` {
		t.Fatalf("/version = %d %s", code, body)
	}
	if lines := strings.Count(log.String(), "\n"); lines < 10 {
		t.Fatalf("access log has %d lines, want one per request:\n%s", lines, log.String())
	}
	if !strings.Contains(log.String(), "GET /secure 401") {
		t.Fatalf("access log lacks the 401 line:\n%s", log.String())
	}
}

func TestRoutesPerProgram(t *testing.T) {
	a := newAuth(time.Now())
	auth := httptest.NewServer(Mux(a, Routes{Login: true}, NewAccessLog(io.Discard)))
	defer auth.Close()
	resp, err := http.Get(auth.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Fatalf("auth serves /: %d", resp.StatusCode)
	}
}

func TestHealthToggles(t *testing.T) {
	h := &Health{}
	srv := httptest.NewServer(h.Handler())
	defer srv.Close()
	status := func(path string) int {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, probe := range []string{"/healthz", "/readiness"} {
		if got := status(probe); got != 200 {
			t.Fatalf("%s = %d", probe, got)
		}
		status(probe + "/status")
		if got := status(probe); got != 503 {
			t.Fatalf("%s after toggle = %d, want 503", probe, got)
		}
		status(probe + "/status")
		if got := status(probe); got != 200 {
			t.Fatalf("%s after second toggle = %d, want 200", probe, got)
		}
	}
}

// TestServeStopsCleanly checks that cancelling (what SIGTERM does) ends
// Serve without an error once it has served.
func TestServeStopsCleanly(t *testing.T) {
	app, _ := net.Listen("tcp", "127.0.0.1:0")
	health, _ := net.Listen("tcp", "127.0.0.1:0")
	appAddr, healthAddr := app.Addr().String(), health.Addr().String()
	app.Close()
	health.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Serve(ctx, Program{Name: "monolith", Routes: Routes{Hello: true}}, appAddr, healthAddr, []byte("s"), 0, io.Discard)
	}()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if resp, err := http.Get("http://" + appAddr + "/"); err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("server did not come up")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no shutdown")
	}
}
