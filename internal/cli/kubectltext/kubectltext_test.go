package kubectltext

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"k8s.io/kubectl/pkg/util/i18n"
)

func TestNeeded(t *testing.T) {
	tests := []struct {
		args []string
		want bool
	}{
		{args: []string{"navarch", "agent", "--node-name", "n1"}, want: false},
		{args: []string{"/usr/bin/navarch", "server"}, want: false},
		{args: []string{"navarch", "images", "list"}, want: false},
		{args: []string{"navarch", "version"}, want: false},
		{args: []string{"navarch", "kubectl", "get", "pods"}, want: true},
		{args: []string{"navarch"}, want: true},
		{args: []string{"navarch", "--help"}, want: true},
		{args: []string{"navarch", "bogus"}, want: true},
		{args: []string{"/usr/local/bin/kubectl", "version"}, want: true},
		{args: []string{"kubectl.exe", "agent"}, want: true},
		{args: nil, want: true},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			if got := Needed(tt.args); got != tt.want {
				t.Errorf("Needed(%q) = %v, want %v", tt.args, got, tt.want)
			}
		})
	}
}

// A message of kubectl's with a German translation.
const (
	message = "Print the list of flags inherited by all commands"
	german  = "Schreibt die Liste von Optionen, die alle Befehle erben"
)

// TestTranslations runs this test binary again as a child that applies
// what the init does for a given command line, then translates a
// message of kubectl's under LANG=de_DE.UTF-8: the child is needed
// because translations load once per process.
func TestTranslations(t *testing.T) {
	if args := os.Getenv("KUBECTLTEXT_CHILD_ARGS"); args != "" {
		configure(strings.Fields(args))
		fmt.Printf("translated: %s\n", i18n.T(message))
		return
	}
	for _, tt := range []struct {
		args string
		want string
	}{
		{args: "navarch agent", want: message},
		{args: "navarch server --no-agent", want: message},
		{args: "navarch kubectl options", want: german},
		{args: "kubectl options", want: german},
	} {
		t.Run(tt.args, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestTranslations$")
			cmd.Env = append(os.Environ(), "KUBECTLTEXT_CHILD_ARGS="+tt.args, "LANG=de_DE.UTF-8", "LC_ALL=", "LC_MESSAGES=")
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("child: %v\n%s", err, out)
			}
			if want := "translated: " + tt.want + "\n"; !strings.Contains(string(out), want) {
				t.Errorf("child output lacks %q:\n%s", want, out)
			}
		})
	}
}
