package cri

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"k8s.io/klog/v2"
)

// ErrMissingDependency is returned (wrapped, naming what is missing and
// the Debian packages that provide it) when containerd, runc or the CNI
// plugins are not installed.
var ErrMissingDependency = errors.New("cri: missing dependency")

// DefaultCNIBinDir is where Debian's containernetworking-plugins puts
// the CNI plugins.
const DefaultCNIBinDir = "/usr/lib/cni"

// RequiredCNIPlugins are the CNI plugins the agent's conflist uses.
var requiredCNIPlugins = []string{"bridge", "host-local", "portmap", "loopback"}

// CheckDependencies returns an ErrMissingDependency error naming every
// missing program (containerd, ctr, runc on $PATH; the CNI plugins in
// cniBinDir) and the Debian packages to install, or nil.
func CheckDependencies(cniBinDir string) error {
	var missing []string
	packages := map[string]bool{}
	for _, prog := range []struct{ name, pkg string }{{"containerd", "containerd"}, {"ctr", "containerd"}, {"runc", "runc"}} {
		if _, err := exec.LookPath(prog.name); err != nil {
			missing = append(missing, prog.name)
			packages[prog.pkg] = true
		}
	}
	for _, plugin := range requiredCNIPlugins {
		if _, err := os.Stat(filepath.Join(cniBinDir, plugin)); err != nil {
			missing = append(missing, filepath.Join(cniBinDir, plugin))
			packages["containernetworking-plugins"] = true
		}
	}
	if len(missing) == 0 {
		return nil
	}
	var pkgs []string
	for _, p := range []string{"containerd", "runc", "containernetworking-plugins"} {
		if packages[p] {
			pkgs = append(pkgs, p)
		}
	}
	return fmt.Errorf("%w: %s not found; install them with: apt-get install -y %s (or run hack/install-deps.sh)",
		ErrMissingDependency, strings.Join(missing, ", "), strings.Join(pkgs, " "))
}

// Supervisor runs containerd as a child process with a generated config,
// restarts it when it dies, and stops it when its context ends.
type Supervisor struct {
	config ContainerdConfig
	// binary is the containerd executable.
	binary string
	ready  chan struct{}
	// readyOnce closes ready.
	readyOnce sync.Once
}

// restart back-off bounds: a containerd that keeps dying is restarted
// ever more slowly, up to once every maxRestartDelay.
const (
	minRestartDelay = time.Second
	maxRestartDelay = 30 * time.Second
	// stopTimeout is how long containerd gets to exit after SIGTERM.
	stopTimeout = 10 * time.Second
	// startTimeout bounds the first start: past it, Start gives up.
	startTimeout = 60 * time.Second
)

// NewSupervisor checks the dependencies and returns a supervisor for
// config. It starts nothing.
func NewSupervisor(config ContainerdConfig) (*Supervisor, error) {
	if err := CheckDependencies(config.CNIBinDir); err != nil {
		return nil, err
	}
	binary, err := exec.LookPath("containerd")
	if err != nil {
		return nil, fmt.Errorf("%w: containerd: %w", ErrMissingDependency, err)
	}
	return &Supervisor{config: config, binary: binary, ready: make(chan struct{})}, nil
}

// Endpoint is the CRI endpoint of the supervised containerd.
func (s *Supervisor) Endpoint() string { return s.config.Endpoint() }

// Ready is closed once containerd first answers CRI calls.
func (s *Supervisor) Ready() <-chan struct{} { return s.ready }

// Start writes the config, runs containerd and blocks until ctx ends,
// then stops containerd (SIGTERM, SIGKILL after 10 s) and returns nil.
// It returns an error if containerd cannot be started or never becomes
// reachable (the error carries the end of containerd's log). Containers
// keep running across a stop: their shims outlive containerd, and the
// next containerd on the same directory finds them again.
func (s *Supervisor) Start(ctx context.Context) error {
	logger := klog.FromContext(ctx).WithName("containerd")
	if err := s.prepare(); err != nil {
		return err
	}
	delay := minRestartDelay
	for {
		started := time.Now()
		cmd, exited, err := s.run()
		if err != nil {
			return err
		}
		logger.Info("started containerd", "pid", cmd.Process.Pid, "socket", s.config.Socket())
		if err := s.waitReady(ctx, exited); err != nil {
			s.stop(cmd, exited)
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("%w\n%s", err, s.logTail())
		}
		s.readyOnce.Do(func() { close(s.ready) })
		select {
		case <-ctx.Done():
			s.stop(cmd, exited)
			logger.Info("stopped containerd")
			return nil
		case err := <-exited:
			if time.Since(started) > 10*maxRestartDelay {
				delay = minRestartDelay
			}
			logger.Error(err, "containerd exited; restarting", "after", delay)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(delay):
			}
			delay = min(2*delay, maxRestartDelay)
		}
	}
}

// prepare creates the directories, writes config.toml and ends a
// containerd left running on this directory by an agent that was killed.
func (s *Supervisor) prepare() error {
	for _, dir := range []string{s.config.Dir, s.config.CNIConfDir} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("cri: %w", err)
		}
	}
	config, err := s.config.Render()
	if err != nil {
		return err
	}
	if err := os.WriteFile(s.config.ConfigPath(), config, 0o600); err != nil {
		return fmt.Errorf("cri: writing containerd config: %w", err)
	}
	s.killStale()
	return nil
}

func (s *Supervisor) pidPath() string { return filepath.Join(s.config.Dir, "containerd.pid") }

// killStale ends the containerd whose pid the pid file records, if that
// process still runs with this config (an agent killed with SIGKILL can
// leave it behind; two containerds on one root would fight over its
// database lock).
func (s *Supervisor) killStale() {
	data, err := os.ReadFile(s.pidPath())
	if err != nil {
		return
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 0 {
		return
	}
	cmdline, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
	if err != nil || !bytes.Contains(cmdline, []byte(s.config.ConfigPath())) {
		return
	}
	_ = syscall.Kill(pid, syscall.SIGTERM)
	deadline := time.Now().Add(stopTimeout)
	for time.Now().Before(deadline) {
		if syscall.Kill(pid, 0) != nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
}

// run starts containerd; exited receives its exit once.
func (s *Supervisor) run() (*exec.Cmd, <-chan error, error) {
	logFile, err := os.OpenFile(s.config.LogPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("cri: containerd log: %w", err)
	}
	cmd := exec.Command(s.binary, "--config", s.config.ConfigPath())
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Pdeathsig: if the agent dies, containerd goes too rather than
	// outliving it with the socket; the pods' shims keep running.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, nil, fmt.Errorf("cri: starting containerd: %w", err)
	}
	_ = os.WriteFile(s.pidPath(), []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o600)
	exited := make(chan error, 1)
	go func() {
		err := cmd.Wait()
		logFile.Close()
		if err == nil {
			err = errors.New("exited with status 0")
		}
		exited <- fmt.Errorf("cri: containerd: %w", err)
	}()
	return cmd, exited, nil
}

// waitReady polls the socket until containerd answers CRI, containerd
// exits, or startTimeout passes.
func (s *Supervisor) waitReady(ctx context.Context, exited <-chan error) error {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	reachable := make(chan error, 1)
	go func() { reachable <- WaitReachable(ctx, s.config.Endpoint()) }()
	select {
	case err := <-reachable:
		return err
	case err := <-exited:
		cancel()
		<-reachable
		return err
	}
}

// stop sends SIGTERM, then SIGKILL after stopTimeout, and waits.
func (s *Supervisor) stop(cmd *exec.Cmd, exited <-chan error) {
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(stopTimeout):
		_ = cmd.Process.Kill()
		<-exited
	}
	_ = os.Remove(s.pidPath())
}

// logTail returns the last lines of containerd's log, for errors.
func (s *Supervisor) logTail() string {
	data, err := os.ReadFile(s.config.LogPath())
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > 20 {
		lines = lines[len(lines)-20:]
	}
	return "containerd log (" + s.config.LogPath() + "):\n" + strings.Join(lines, "\n")
}
