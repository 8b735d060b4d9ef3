package images

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"github.com/navarch/navarch/internal/agent/cri"
)

// Namespace is the containerd namespace the CRI plugin serves images
// and containers from.
const Namespace = "k8s.io"

// Importer loads an image archive (docker-archive or OCI layout tar)
// into the runtime's image store and returns the names it imported.
type Importer func(ctx context.Context, archive string) ([]string, error)

// CtrImporter returns an Importer that runs `ctr images import` against
// the containerd at endpoint (a unix socket path or unix:// URL), into
// Namespace, unpacking for the host platform.
func CtrImporter(endpoint string) Importer {
	return func(ctx context.Context, archive string) ([]string, error) {
		return Import(ctx, endpoint, archive)
	}
}

// Import loads archive into the containerd at endpoint (see
// CtrImporter) and returns the image names it imported.
func Import(ctx context.Context, endpoint, archive string) ([]string, error) {
	socket, err := cri.SocketPath(endpoint)
	if err != nil {
		return nil, fmt.Errorf("images: %w", err)
	}
	if _, err := os.Stat(archive); err != nil {
		return nil, fmt.Errorf("images: %w", err)
	}
	ctr, err := exec.LookPath("ctr")
	if err != nil {
		return nil, fmt.Errorf("images: ctr not found (apt-get install -y containerd): %w", err)
	}
	cmd := exec.CommandContext(ctx, ctr, "--address", socket, "--namespace", Namespace, "images", "import", archive)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("images: importing %s: %w: %s", archive, err, strings.TrimSpace(stderr.String()))
	}
	return parseImported(stdout.String()), nil
}

// parseImported picks the image names out of ctr's import output, whose
// lines read "unpacking NAME (sha256:...)...done".
func parseImported(out string) []string {
	var names []string
	for _, line := range strings.Split(out, "\n") {
		rest, ok := strings.CutPrefix(strings.TrimSpace(line), "unpacking ")
		if !ok {
			continue
		}
		if name, _, ok := strings.Cut(rest, " "); ok && name != "" {
			names = append(names, name)
		}
	}
	return names
}
