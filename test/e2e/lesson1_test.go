package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/navarch/navarch/test/framework"
)

// TestCourseLessonOne is lesson 1 of SCENARIO.md (steps 1-3): the
// course's programs built and run on the host, no cluster. Ports are
// free ones rather than the course's 10080-10091, so the test runs
// beside anything.
func TestCourseLessonOne(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: builds and runs the course's programs")
	}
	bin := t.TempDir()
	build := exec.Command("go", "build", "-o", bin+"/",
		"github.com/navarch/navarch/examples/course/cmd/monolith",
		"github.com/navarch/navarch/examples/course/cmd/hello",
		"github.com/navarch/navarch/examples/course/cmd/auth")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	run := func(name string) string {
		t.Helper()
		httpPort, healthPort := framework.FreePort(t), framework.FreePort(t)
		ctx, cancel := context.WithCancel(context.Background())
		cmd := exec.CommandContext(ctx, filepath.Join(bin, name),
			fmt.Sprintf("-http=127.0.0.1:%d", httpPort), fmt.Sprintf("-health=127.0.0.1:%d", healthPort))
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cancel(); _ = cmd.Wait() })
		base := fmt.Sprintf("http://127.0.0.1:%d", httpPort)
		waitGet(t, 10*time.Second, fmt.Sprintf("http://127.0.0.1:%d/healthz", healthPort), "", http.StatusOK, "")
		return base
	}

	// Step 1: the monolith answers / and refuses /secure without a token.
	monolith := run("monolith")
	if r := mustGet(t, monolith+"/", "", "", "", ""); r.status != 200 || r.body != `{"message":"Hello"}` {
		t.Errorf("monolith /: %d %q", r.status, r.body)
	}
	if r := mustGet(t, monolith+"/secure", "", "", "", ""); r.status != 401 || r.body != "authorization failed" {
		t.Errorf("monolith /secure: %d %q, want 401 authorization failed", r.status, r.body)
	}
	// Step 2: a token from /login opens /secure; a wrong password gets
	// 401, and so does a tampered token.
	token := login(t, monolith+"/login", "")
	if r := mustGet(t, monolith+"/secure", "", "", token, ""); r.status != 200 || r.body != `{"message":"Hello"}` {
		t.Errorf("monolith /secure with a token: %d %q", r.status, r.body)
	}
	if r := mustGet(t, monolith+"/login", "user", "wrong", "", ""); r.status != 401 {
		t.Errorf("login with a wrong password: %d %q, want 401", r.status, r.body)
	}
	parts := strings.Split(token, ".")
	tampered := parts[0] + "." + parts[1] + "x." + parts[2]
	if r := mustGet(t, monolith+"/secure", "", "", tampered, ""); r.status != 401 {
		t.Errorf("/secure with a tampered token: %d %q, want 401", r.status, r.body)
	}
	// Step 3: hello and auth apart; a token from auth opens hello's /secure.
	hello, auth := run("hello"), run("auth")
	if r := mustGet(t, hello+"/secure", "", "", login(t, auth+"/login", ""), ""); r.status != 200 || r.body != `{"message":"Hello"}` {
		t.Errorf("hello /secure with auth's token: %d %q", r.status, r.body)
	}
	if r := mustGet(t, auth+"/", "", "", "", ""); r.status != http.StatusNotFound {
		t.Errorf("auth / (it serves only /login and /version): %d %q, want 404", r.status, r.body)
	}
}
