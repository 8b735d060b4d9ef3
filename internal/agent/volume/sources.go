package volume

import (
	"context"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
)

// Modes of the directories the manager creates.
const (
	// emptyDirMode is every emptyDir's mode (upstream's: any user of
	// the pod may write).
	emptyDirMode os.FileMode = 0o777
	// projectionDirMode is the mode of the directories the atomic writer
	// fills (the files carry their own modes).
	projectionDirMode os.FileMode = 0o755
	// hostPathCreateMode is the mode of a directory created for a
	// hostPath of type DirectoryOrCreate.
	hostPathCreateMode os.FileMode = 0o755
	// localPathMode is the mode of a local-path volume's directory:
	// writable by any user of the pods that claim it, as upstream's
	// local-path provisioner makes it.
	localPathMode os.FileMode = 0o777
)

// Annotations of local-path PersistentVolumes (internal/controller/volume
// owns the names; the agent may not import it).
const (
	annProvisionedBy = "pv.kubernetes.io/provisioned-by"
	// LocalPathProvisioner provisions the volumes whose directories this
	// node creates and removes.
	LocalPathProvisioner = "navarch.io/local-path"
	// LocalPathCleanupFinalizer holds a local-path volume until the node
	// removed its directory.
	LocalPathCleanupFinalizer = "navarch.io/local-path-cleanup"
	// LocalPathDirAnnotation on the Node names the directory under which
	// the node keeps local-path volumes.
	LocalPathDirAnnotation = "navarch.io/local-path-dir"
)

// setUpVolume sets one volume up. It returns where the volume is and
// whether it wants periodic refreshes; err is the message of a
// FailedMount event.
func (m *Manager) setUpVolume(ctx context.Context, pod *corev1.Pod, v *corev1.Volume) (hostVolume, bool, error) {
	s := &v.VolumeSource
	switch {
	case s.EmptyDir != nil:
		hv, err := m.setUpEmptyDir(pod, v.Name, s.EmptyDir)
		return hv, false, err
	case s.HostPath != nil:
		return hostVolume{path: s.HostPath.Path}, false, checkHostPath(s.HostPath.Path, s.HostPath.Type, hostPathCreateMode)
	case s.ConfigMap != nil:
		return m.setUpProjection(pod, dirConfigMap, v.Name, false, func(payload map[string]FileProjection) error {
			return m.configMapFiles(ctx, pod.Namespace, s.ConfigMap.Name, s.ConfigMap.Items, s.ConfigMap.DefaultMode, ptrTrue(s.ConfigMap.Optional), payload)
		})
	case s.Secret != nil:
		return m.setUpProjection(pod, dirSecret, v.Name, true, func(payload map[string]FileProjection) error {
			return m.secretFiles(ctx, pod.Namespace, s.Secret.SecretName, s.Secret.Items, s.Secret.DefaultMode, ptrTrue(s.Secret.Optional), payload)
		})
	case s.DownwardAPI != nil:
		return m.setUpProjection(pod, dirDownwardAPI, v.Name, false, func(payload map[string]FileProjection) error {
			return downwardAPIPayload(pod, s.DownwardAPI.Items, s.DownwardAPI.DefaultMode, m.cfg.Allocatable, payload)
		})
	case s.Projected != nil:
		return m.setUpProjection(pod, dirProjected, v.Name, true, func(payload map[string]FileProjection) error {
			return m.projectedFiles(ctx, pod, s.Projected, payload)
		})
	case s.PersistentVolumeClaim != nil:
		hv, err := m.setUpClaim(ctx, pod, s.PersistentVolumeClaim)
		return hv, false, err
	}
	return hostVolume{}, false, fmt.Errorf("volume type %q is not supported by this node agent", volumeType(s))
}

// setUpEmptyDir creates the directory, on a tmpfs for medium Memory.
func (m *Manager) setUpEmptyDir(pod *corev1.Pod, name string, src *corev1.EmptyDirVolumeSource) (hostVolume, error) {
	dir := m.volumeDir(pod.UID, dirEmptyDir, name)
	hv := hostVolume{path: dir}
	switch src.Medium {
	case corev1.StorageMediumDefault, corev1.StorageMediumMemory:
	default:
		return hv, fmt.Errorf("emptyDir medium %q is not supported by this node agent", src.Medium)
	}
	if err := makeDir(dir, emptyDirMode); err != nil {
		return hv, err
	}
	if src.Medium == corev1.StorageMediumMemory {
		var size int64
		if src.SizeLimit != nil {
			size = src.SizeLimit.Value()
		}
		if err := ensureTmpfs(dir, size, emptyDirMode); err != nil {
			return hv, err
		}
	}
	return hv, nil
}

// setUpProjection fills a directory with the atomic writer from the
// files fill computes, on a tmpfs when inMemory (secrets never touch
// the disk). A failure to compute the files leaves what is there.
func (m *Manager) setUpProjection(pod *corev1.Pod, typeDir, name string, inMemory bool, fill func(map[string]FileProjection) error) (hostVolume, bool, error) {
	dir := m.volumeDir(pod.UID, typeDir, name)
	hv := hostVolume{path: dir, readOnly: true}
	if err := makeDir(dir, projectionDirMode); err != nil {
		return hv, true, err
	}
	if inMemory {
		if err := ensureTmpfs(dir, 0, projectionDirMode); err != nil {
			return hv, true, err
		}
	}
	payload := map[string]FileProjection{}
	if err := fill(payload); err != nil {
		return hv, true, err
	}
	if _, err := (AtomicWriter{Dir: dir}).Write(payload); err != nil {
		return hv, true, err
	}
	return hv, true, nil
}

// makeDir creates dir with mode (not filtered by the umask). An
// existing dir is left as it is: its pod may have changed its mode.
func makeDir(dir string, mode os.FileMode) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	if err := os.MkdirAll(dir, mode); err != nil {
		return err
	}
	return os.Chmod(dir, mode)
}

// ensureTmpfs mounts a tmpfs on dir unless one is there.
func ensureTmpfs(dir string, size int64, mode os.FileMode) error {
	mounted, err := isMountPoint(dir)
	if err != nil || mounted {
		return err
	}
	return mountTmpfs(dir, size, mode)
}

// configMapFiles adds a ConfigMap's files to payload: every key of data
// and binaryData, or the listed items. A missing optional ConfigMap (or
// key) adds nothing.
func (m *Manager) configMapFiles(ctx context.Context, namespace, name string, items []corev1.KeyToPath, defaultMode *int32, optional bool, payload map[string]FileProjection) error {
	cm, err := m.client.CoreV1().ConfigMaps(namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		if optional {
			return nil
		}
		return fmt.Errorf("configmap %q not found", name)
	}
	if err != nil {
		return err
	}
	if len(items) == 0 {
		for k, v := range cm.Data {
			payload[k] = FileProjection{Data: []byte(v), Mode: fileMode(nil, defaultMode)}
		}
		for k, v := range cm.BinaryData {
			payload[k] = FileProjection{Data: v, Mode: fileMode(nil, defaultMode)}
		}
		return nil
	}
	for _, item := range items {
		var data []byte
		if v, ok := cm.Data[item.Key]; ok {
			data = []byte(v)
		} else if v, ok := cm.BinaryData[item.Key]; ok {
			data = v
		} else if optional {
			continue
		} else {
			return fmt.Errorf("configmap references non-existent config key: %s", item.Key)
		}
		payload[item.Path] = FileProjection{Data: data, Mode: fileMode(item.Mode, defaultMode)}
	}
	return nil
}

// secretFiles adds a Secret's files to payload, as configMapFiles.
func (m *Manager) secretFiles(ctx context.Context, namespace, name string, items []corev1.KeyToPath, defaultMode *int32, optional bool, payload map[string]FileProjection) error {
	secret, err := m.client.CoreV1().Secrets(namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		if optional {
			return nil
		}
		return fmt.Errorf("secret %q not found", name)
	}
	if err != nil {
		return err
	}
	if len(items) == 0 {
		for k, v := range secret.Data {
			payload[k] = FileProjection{Data: v, Mode: fileMode(nil, defaultMode)}
		}
		return nil
	}
	for _, item := range items {
		v, ok := secret.Data[item.Key]
		if !ok {
			if optional {
				continue
			}
			return fmt.Errorf("references non-existent secret key: %s", item.Key)
		}
		payload[item.Path] = FileProjection{Data: v, Mode: fileMode(item.Mode, defaultMode)}
	}
	return nil
}

// projectedFiles adds the files of every source of a projected volume.
// A serviceAccountToken source is a token bound to the pod
// (serviceAccountToken); trust-bundle projections are refused.
func (m *Manager) projectedFiles(ctx context.Context, pod *corev1.Pod, src *corev1.ProjectedVolumeSource, payload map[string]FileProjection) error {
	var errs []error
	for _, source := range src.Sources {
		var err error
		switch {
		case source.ConfigMap != nil:
			c := source.ConfigMap
			err = m.configMapFiles(ctx, pod.Namespace, c.Name, c.Items, src.DefaultMode, ptrTrue(c.Optional), payload)
		case source.Secret != nil:
			s := source.Secret
			err = m.secretFiles(ctx, pod.Namespace, s.Name, s.Items, src.DefaultMode, ptrTrue(s.Optional), payload)
		case source.DownwardAPI != nil:
			err = downwardAPIPayload(pod, source.DownwardAPI.Items, src.DefaultMode, m.cfg.Allocatable, payload)
		case source.ServiceAccountToken != nil:
			var token []byte
			if token, err = m.serviceAccountToken(ctx, pod, source.ServiceAccountToken); err == nil {
				payload[source.ServiceAccountToken.Path] = FileProjection{Data: token, Mode: fileMode(nil, src.DefaultMode)}
			}
		case source.ClusterTrustBundle != nil:
			err = errors.New("clusterTrustBundle projections are not supported by this node agent")
		default:
			err = errors.New("this projected volume source is not supported by this node agent")
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	return utilerrors.NewAggregate(errs)
}

// setUpClaim finds the PersistentVolume bound to a claim and prepares
// its path: a hostPath volume gets the hostPath check (a local-path
// directory is created, mode 0777), a local volume must exist.
func (m *Manager) setUpClaim(ctx context.Context, pod *corev1.Pod, src *corev1.PersistentVolumeClaimVolumeSource) (hostVolume, error) {
	hv := hostVolume{readOnly: src.ReadOnly}
	claimKey := pod.Namespace + "/" + src.ClaimName
	claim, err := m.client.CoreV1().PersistentVolumeClaims(pod.Namespace).Get(ctx, src.ClaimName, metav1.GetOptions{})
	if err != nil {
		return hv, fmt.Errorf("error processing PVC %s: failed to fetch PVC from API server: %w", claimKey, err)
	}
	if claim.Status.Phase != corev1.ClaimBound || claim.Spec.VolumeName == "" {
		return hv, fmt.Errorf("error processing PVC %s: PVC is not bound", claimKey)
	}
	if claim.DeletionTimestamp != nil {
		return hv, fmt.Errorf("error processing PVC %s: PVC is being deleted", claimKey)
	}
	pv, err := m.client.CoreV1().PersistentVolumes().Get(ctx, claim.Spec.VolumeName, metav1.GetOptions{})
	if err != nil {
		return hv, fmt.Errorf("error processing PVC %s: failed to fetch PV %s from API server: %w", claimKey, claim.Spec.VolumeName, err)
	}
	if ref := pv.Spec.ClaimRef; ref == nil || ref.UID != claim.UID {
		return hv, fmt.Errorf("error processing PVC %s: the PV %s is not bound to it", claimKey, pv.Name)
	}
	hv.persistentVolume = pv.Name
	switch {
	case pv.Spec.HostPath != nil:
		hv.path = pv.Spec.HostPath.Path
		mode := hostPathCreateMode
		if pv.Annotations[annProvisionedBy] == LocalPathProvisioner {
			mode = localPathMode
		}
		return hv, checkHostPath(hv.path, pv.Spec.HostPath.Type, mode)
	case pv.Spec.Local != nil:
		hv.path = pv.Spec.Local.Path
		if !exists(hv.path) {
			return hv, fmt.Errorf("path %q does not exist", hv.path)
		}
		return hv, nil
	}
	return hv, fmt.Errorf("volume type %q of PersistentVolume %s is not supported by this node agent", volumeType(&pv.Spec.PersistentVolumeSource), pv.Name)
}

// volumeType names the source a volume (or PersistentVolume) uses, as
// its JSON field ("nfs", "csi", ...).
func volumeType(source any) string {
	v := reflect.ValueOf(source).Elem()
	for i := 0; i < v.NumField(); i++ {
		f := v.Field(i)
		if f.Kind() == reflect.Pointer && !f.IsNil() {
			name, _, _ := strings.Cut(v.Type().Field(i).Tag.Get("json"), ",")
			return name
		}
	}
	return "unknown"
}

func ptrTrue(b *bool) bool { return b != nil && *b }
