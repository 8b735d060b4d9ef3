package volume

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"
)

// DefaultResyncInterval is how often the ConfigMap, Secret and downward
// API volumes of a running pod are refreshed (the kubelet's sync period).
const DefaultResyncInterval = time.Minute

// Back-off of a volume that failed to set up: the pod is synced again
// after initialRetry, doubling per failure up to maxRetry.
const (
	initialRetry = time.Second
	maxRetry     = 10 * time.Second
)

// EventFailedMount is the reason of the event a failed set-up records
// on the pod (the kubelet's).
const EventFailedMount = "FailedMount"

// Directories of the volume types under a pod's volumes/ directory (the
// kubelet's plugin names, with "/" escaped as "~").
const (
	dirEmptyDir    = "kubernetes.io~empty-dir"
	dirConfigMap   = "kubernetes.io~configmap"
	dirSecret      = "kubernetes.io~secret"
	dirDownwardAPI = "kubernetes.io~downward-api"
	dirProjected   = "kubernetes.io~projected"
)

// Config is what the Manager needs to know.
type Config struct {
	// Root holds one directory per pod (named by its UID). Required; it
	// is created if missing.
	Root string
	// NodeName is this node: local-path volumes whose node affinity
	// names it are cleaned up by Run.
	NodeName string
	// ClusterDomain is the cluster's DNS domain, for the /etc/hosts entry
	// of a pod with a subdomain; default cluster.local.
	ClusterDomain string
	// Allocatable is the node's allocatable resources: the value of a
	// downward API resourceFieldRef limit a container does not set.
	Allocatable corev1.ResourceList
	// ResyncInterval is how often a pod's ConfigMap, Secret, downward API
	// and projected volumes are refreshed; default DefaultResyncInterval.
	// Each resync adds up to a tenth of it as jitter.
	ResyncInterval time.Duration
}

// Manager sets up, mounts and tears down the volumes of this node's
// pods. Build it with New. SetUp, ContainerMounts and TearDown of one pod
// must not run concurrently (the agent's pod worker serializes them);
// calls for different pods may.
type Manager struct {
	cfg      Config
	client   kubernetes.Interface
	recorder record.EventRecorder

	// tokens are the pods' projected service account tokens.
	tokens tokenCache

	mu sync.Mutex
	// pods holds, per pod, its volumes as last set up. Guarded by mu.
	pods map[types.UID]*podVolumes
}

// podVolumes is what SetUp learned about one pod's volumes.
type podVolumes struct {
	// volumes maps a volume name to where it is on the host, for the
	// volumes set up at least once.
	volumes map[string]hostVolume
	// failures counts consecutive set-up failures per volume.
	failures map[string]int
}

// hostVolume is a set-up volume as the runtime mounts it.
type hostVolume struct {
	// path is the volume's root on the host.
	path string
	// readOnly: the volume type mounts it read-only whatever the
	// volumeMount says (configMap, secret, downwardAPI, projected, and
	// read-only claims).
	readOnly bool
	// persistentVolume is the PV of a claim ("" for other types).
	persistentVolume string
}

// MountError is SetUp's error when some volumes are not ready: the pod
// must not start yet, and should be synced again after RetryAfter.
type MountError struct {
	// Volumes are the names of the volumes that are not ready.
	Volumes []string
	// RetryAfter is the back-off before the next attempt.
	RetryAfter time.Duration
}

func (e *MountError) Error() string {
	return fmt.Sprintf("unmounted volumes=[%s]", strings.Join(e.Volumes, " "))
}

// ConfigError is ContainerMounts' error when a container's mounts cannot
// be made from the pod (a bad subPath): the container waits with reason
// CreateContainerConfigError and Message as its message.
type ConfigError struct{ Message string }

func (e *ConfigError) Error() string { return e.Message }

// New returns a Manager for the pods under cfg.Root. recorder records
// FailedMount events (nil: none).
func New(cfg Config, client kubernetes.Interface, recorder record.EventRecorder) (*Manager, error) {
	if cfg.Root == "" {
		return nil, fmt.Errorf("volume: no root directory")
	}
	root, err := realDir(cfg.Root)
	if err != nil {
		return nil, err
	}
	cfg.Root = root
	if cfg.ClusterDomain == "" {
		cfg.ClusterDomain = "cluster.local"
	}
	if cfg.ResyncInterval <= 0 {
		cfg.ResyncInterval = DefaultResyncInterval
	}
	return &Manager{cfg: cfg, client: client, recorder: recorder, pods: map[types.UID]*podVolumes{}}, nil
}

// PodDir is the directory of a pod's volumes.
func (m *Manager) PodDir(uid types.UID) string { return filepath.Join(m.cfg.Root, string(uid)) }

// volumeDir is the directory of a pod's volume of one type.
func (m *Manager) volumeDir(uid types.UID, typeDir, name string) string {
	return filepath.Join(m.PodDir(uid), "volumes", typeDir, name)
}

// SetUp makes every volume of pod ready on this node (see the package
// documentation for the contract). It returns the delay after which the
// pod's volumes want a refresh (0: they never do) and, when some volume
// is not ready, a *MountError.
func (m *Manager) SetUp(ctx context.Context, pod *corev1.Pod) (time.Duration, error) {
	logger := klog.FromContext(ctx)
	if err := checkUID(pod.UID); err != nil {
		return 0, err
	}
	if err := os.MkdirAll(m.PodDir(pod.UID), 0o750); err != nil {
		return 0, fmt.Errorf("volume: %w", err)
	}
	state := m.podState(pod.UID)
	var notReady []string
	retry := time.Duration(0)
	refresh := false
	for i := range pod.Spec.Volumes {
		v := &pod.Spec.Volumes[i]
		hv, refreshes, err := m.setUpVolume(ctx, pod, v)
		refresh = refresh || refreshes
		m.mu.Lock()
		if err == nil {
			state.volumes[v.Name] = hv
			delete(state.failures, v.Name)
			m.mu.Unlock()
			continue
		}
		_, wasReady := state.volumes[v.Name]
		state.failures[v.Name]++
		n := state.failures[v.Name]
		m.mu.Unlock()
		logger.V(2).Info("volume set-up failed", "pod", klog.KObj(pod), "volume", v.Name, "err", err)
		m.event(pod, corev1.EventTypeWarning, EventFailedMount, "MountVolume.SetUp failed for volume %q : %v", v.Name, err)
		if wasReady {
			// It was set up before: the pod keeps using what is there.
			continue
		}
		notReady = append(notReady, v.Name)
		if d := backoff(n); retry == 0 || d < retry {
			retry = d
		}
	}
	if len(notReady) > 0 {
		return 0, &MountError{Volumes: notReady, RetryAfter: retry}
	}
	if !refresh {
		return 0, nil
	}
	interval := m.cfg.ResyncInterval
	return interval + rand.N(interval/10+1), nil
}

// checkUID refuses a pod UID that would not name a directory of its own
// under Root.
func checkUID(uid types.UID) error {
	if uid == "" || uid == "." || uid == ".." || strings.ContainsAny(string(uid), "/\x00") {
		return fmt.Errorf("volume: invalid pod UID %q", uid)
	}
	return nil
}

// backoff is the retry delay after n consecutive failures.
func backoff(n int) time.Duration {
	d := initialRetry
	for i := 1; i < n && d < maxRetry; i++ {
		d *= 2
	}
	return min(d, maxRetry)
}

// podState returns (creating) what the manager knows of a pod.
func (m *Manager) podState(uid types.UID) *podVolumes {
	m.mu.Lock()
	defer m.mu.Unlock()
	state, ok := m.pods[uid]
	if !ok {
		state = &podVolumes{volumes: map[string]hostVolume{}, failures: map[string]int{}}
		m.pods[uid] = state
	}
	return state
}

// hostVolumeOf returns a set-up volume of a pod.
func (m *Manager) hostVolumeOf(uid types.UID, name string) (hostVolume, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	state, ok := m.pods[uid]
	if !ok {
		return hostVolume{}, false
	}
	hv, ok := state.volumes[name]
	return hv, ok
}

// inUse reports whether a pod on this node has set up the
// PersistentVolume named pv.
func (m *Manager) inUse(pv string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, state := range m.pods {
		for _, hv := range state.volumes {
			if hv.persistentVolume == pv {
				return true
			}
		}
	}
	return false
}

// TearDown unmounts everything under the pod's directory and removes
// it. Call it once the pod's containers are gone; it is idempotent.
func (m *Manager) TearDown(ctx context.Context, uid types.UID) error {
	if err := checkUID(uid); err != nil {
		return err
	}
	dir := m.PodDir(uid)
	if _, err := os.Lstat(dir); errors.Is(err, fs.ErrNotExist) {
		m.forget(uid)
		return nil
	}
	if err := unmountAllUnder(dir); err != nil {
		return err
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("volume: removing the volumes of pod %s: %w", uid, err)
	}
	m.forget(uid)
	klog.FromContext(ctx).V(2).Info("removed pod volumes", "podUID", uid)
	return nil
}

func (m *Manager) forget(uid types.UID) {
	m.tokens.forget(uid)
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.pods, uid)
}

// CleanupOrphans tears down the directory of every pod under Root for
// which active returns false (the agent passes: the pod is in the API or
// the runtime still holds it). It returns the UIDs it removed.
func (m *Manager) CleanupOrphans(ctx context.Context, active func(types.UID) bool) ([]types.UID, error) {
	entries, err := os.ReadDir(m.cfg.Root)
	if err != nil {
		return nil, fmt.Errorf("volume: %w", err)
	}
	var removed []types.UID
	var errs []error
	for _, e := range entries {
		uid := types.UID(e.Name())
		if !e.IsDir() || active(uid) {
			continue
		}
		if err := m.TearDown(ctx, uid); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, uid)
	}
	slices.Sort(removed)
	return removed, errors.Join(errs...)
}

func (m *Manager) event(pod *corev1.Pod, eventType, reason, format string, args ...any) {
	if m.recorder != nil {
		m.recorder.Eventf(pod, eventType, reason, format, args...)
	}
}
