package cli

import (
	"context"
	"fmt"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/navarch/navarch/internal/agent/cri"
	"github.com/navarch/navarch/internal/images"
)

// imagesOptions find the containerd the images commands talk to.
type imagesOptions struct {
	dataDir, endpoint string
}

// endpointFor returns --container-runtime-endpoint, or the socket of the
// containerd the agent supervises under the data dir.
func (o imagesOptions) endpointFor(env environment) string {
	if o.endpoint != "" {
		return o.endpoint
	}
	dir := o.dataDir
	if dir == "" {
		dir = dataDir(env.getenv)
	}
	return cri.ContainerdConfig{Dir: filepath.Join(dir, agentDataDirName, "containerd")}.Endpoint()
}

func newImagesCommand(env environment) *cobra.Command {
	var opts imagesOptions
	cmd := &cobra.Command{
		Use:   "images",
		Short: "Import, build and list the container images of this node's containerd",
		Long: `Manage the images of the containerd the node agent uses (images live in
containerd's "k8s.io" namespace, where pods find them).

There is no registry: images come from archives ("docker save" or OCI
tars) or are built here from static binaries. Pods using them should set
imagePullPolicy: IfNotPresent or Never (an image tagged :latest defaults to
Always, which tries a registry).`,
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&opts.dataDir, "data-dir", "", "the agent's data dir, to find its containerd (default $"+dataDirEnv+" or "+defaultDataDir+")")
	pf.StringVar(&opts.endpoint, "container-runtime-endpoint", "", "CRI socket of the containerd to use (default: the agent's own)")
	cmd.AddCommand(newImagesImportCommand(env, &opts), newImagesBuildCommand(env, &opts), newImagesListCommand(env, &opts))
	return cmd
}

func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
}

func newImagesImportCommand(env environment, opts *imagesOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "import FILE...",
		Short: "Load docker or OCI image archives into containerd",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signalContext()
			defer stop()
			for _, file := range args {
				names, err := images.Import(ctx, opts.endpointFor(env), file)
				if err != nil {
					return err
				}
				for _, n := range names {
					fmt.Fprintf(cmd.OutOrStdout(), "imported %s\n", n)
				}
			}
			return nil
		},
	}
}

func newImagesBuildCommand(env environment, opts *imagesOptions) *cobra.Command {
	var spec images.BuildSpec
	var output string
	cmd := &cobra.Command{
		Use:   "build (--binary PATH | --rootfs DIR) --tag NAME:TAG [flags]",
		Short: "Build a one-layer image from a static binary or a directory tree, and import it",
		Long: `Build a one-layer image and import it into containerd. With --output the
image is written as a docker-archive tar instead (no containerd needed).

With --binary: an image with no base that holds one static binary (build it
with CGO_ENABLED=0), at /<name of the binary> unless --path says otherwise,
with that as its entrypoint and PATH=/.

With --rootfs: the directory is the image's root filesystem, packed as one
layer with its owners, modes, symlinks and hard links; every file gets the
same modification time and entries are sorted, so the same tree always gives
the same image. Such an image needs --entrypoint or --cmd; its PATH is the
usual one unless --env sets it.

--entrypoint, --cmd, --env, --workdir, --port and --stop-signal fill the
image config fields of the same names (Entrypoint, Cmd, Env, WorkingDir,
ExposedPorts, StopSignal). List values are comma-separated (quote an
element holding a comma, CSV style).`,
		Example: `  navarch images build --binary _output/hello --tag localhost/hello:1.0.0
  navarch images build --rootfs rootfs --tag localhost/nginx:1.22 \
      --cmd 'nginx,-g,daemon off;' --port 80 --stop-signal SIGQUIT -o nginx.tar`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if spec.Binary != "" {
				if err := images.CheckStatic(spec.Binary); err != nil {
					return err
				}
			}
			if output != "" {
				return images.WriteArchiveFile(spec, output)
			}
			ctx, stop := signalContext()
			defer stop()
			start := time.Now()
			ref, err := images.Build(ctx, images.CtrImporter(opts.endpointFor(env)), spec)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "built %s in %s\n", ref, time.Since(start).Round(time.Millisecond))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&spec.Binary, "binary", "", "static executable to package")
	f.StringVar(&spec.Rootfs, "rootfs", "", "directory to pack as the image's root filesystem")
	f.StringVar(&spec.Tag, "tag", "", "image name, e.g. localhost/web:1 (required)")
	f.StringVar(&spec.Path, "path", "", "path of the binary in the image (default /<binary name>)")
	f.StringSliceVar(&spec.Entrypoint, "entrypoint", nil, "entrypoint, comma-separated (default the binary; none for a rootfs)")
	f.StringSliceVar(&spec.Cmd, "cmd", nil, "default command or entrypoint arguments, comma-separated")
	f.StringSliceVar(&spec.Env, "env", nil, "environment KEY=VALUE (default PATH=/ for a binary, the usual PATH for a rootfs)")
	f.StringVar(&spec.WorkingDir, "workdir", "", "working directory of the image's processes")
	f.StringSliceVar(&spec.ExposedPorts, "port", nil, "ports the image exposes, e.g. 8080/tcp")
	f.StringVar(&spec.StopSignal, "stop-signal", "", "signal that stops the container, e.g. SIGQUIT (default SIGTERM)")
	f.StringVarP(&output, "output", "o", "", "write a docker-archive tar here instead of importing")
	cmd.MarkFlagsOneRequired("binary", "rootfs")
	cmd.MarkFlagsMutuallyExclusive("binary", "rootfs")
	_ = cmd.MarkFlagRequired("tag")
	return cmd
}

func newImagesListCommand(env environment, opts *imagesOptions) *cobra.Command {
	return &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List the images containerd has",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signalContext()
			defer stop()
			client, err := cri.Dial(ctx, opts.endpointFor(env))
			if err != nil {
				return err
			}
			defer client.Close()
			list, err := images.List(ctx, client)
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 8, 3, ' ', 0)
			fmt.Fprintln(w, "IMAGE\tID\tSIZE")
			for _, img := range list {
				id := strings.TrimPrefix(img.ID, "sha256:")
				if len(id) > 12 {
					id = id[:12]
				}
				name := "<none>"
				if len(img.Tags) > 0 {
					name = strings.Join(img.Tags, ",")
				}
				fmt.Fprintf(w, "%s\t%s\t%s\n", name, id, humanSize(img.Size))
			}
			return w.Flush()
		},
	}
}

// humanSize prints bytes as docker does (MB with one decimal, 1000-based).
func humanSize(n uint64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.1fGB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.1fMB", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.1fkB", float64(n)/1e3)
	}
	return fmt.Sprintf("%dB", n)
}
