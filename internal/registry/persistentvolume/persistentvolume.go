package persistentvolume

import (
	"fmt"
	"path"
	"path/filepath"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	fieldsel "k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/diff"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/navarch/navarch/internal/registry"
)

// betaStorageClassAnnotation is the pre-field way to name a volume's
// storage class; it wins over the field, as upstream reads it.
const betaStorageClassAnnotation = "volume.beta.kubernetes.io/storage-class"

// Kind returns the registry entry of core/v1 persistentvolumes, with
// their status subresource.
func Kind() *registry.Kind {
	return &registry.Kind{
		GroupVersion: corev1.SchemeGroupVersion,
		Resource:     "persistentvolumes",
		Singular:     "persistentvolume",
		Kind:         "PersistentVolume",
		ShortNames:   []string{"pv"},
		Namespaced:   false,
		New:          func() runtime.Object { return &corev1.PersistentVolume{} },
		NewList:      func() runtime.Object { return &corev1.PersistentVolumeList{} },
		Strategy:     strategy{},
		Status:       statusStrategy{},
		Table:        table,
		Fields: func(obj runtime.Object) fieldsel.Set {
			// Upstream keeps this legacy field for old clients.
			return fieldsel.Set{"name": obj.(*corev1.PersistentVolume).Name}
		},
	}
}

type strategy struct{}

var (
	_ registry.Strategy       = strategy{}
	_ registry.StatusStrategy = statusStrategy{}
)

// Default applies upstream's defaulter: reclaim policy Retain, volume mode
// Filesystem, and an unset host path type.
func (strategy) Default(obj runtime.Object) {
	pv := obj.(*corev1.PersistentVolume)
	if pv.Spec.PersistentVolumeReclaimPolicy == "" {
		pv.Spec.PersistentVolumeReclaimPolicy = corev1.PersistentVolumeReclaimRetain
	}
	if pv.Spec.VolumeMode == nil {
		mode := corev1.PersistentVolumeFilesystem
		pv.Spec.VolumeMode = &mode
	}
	if pv.Spec.HostPath != nil && pv.Spec.HostPath.Type == nil {
		unset := corev1.HostPathUnset
		pv.Spec.HostPath.Type = &unset
	}
	if pv.Status.Phase == "" {
		pv.Status.Phase = corev1.VolumePending
	}
}

// ProtectionFinalizer keeps a bound volume from going away under its
// claim (upstream's StorageObjectInUseProtection admission adds it; the
// storageprotection controller removes it once the volume is unbound).
const ProtectionFinalizer = "kubernetes.io/pv-protection"

// PrepareForCreate starts the volume Pending, for the volume controller to
// make Available, and protected while in use.
func (strategy) PrepareForCreate(obj runtime.Object) {
	now := metav1.Now()
	pv := obj.(*corev1.PersistentVolume)
	if !slices.Contains(pv.Finalizers, ProtectionFinalizer) {
		pv.Finalizers = append(pv.Finalizers, ProtectionFinalizer)
	}
	pv.Status = corev1.PersistentVolumeStatus{
		Phase:                   corev1.VolumePending,
		LastPhaseTransitionTime: &now,
	}
}

// PrepareForUpdate keeps the status from old.
func (strategy) PrepareForUpdate(obj, old runtime.Object) {
	obj.(*corev1.PersistentVolume).Status = old.(*corev1.PersistentVolume).Status
}

// Validate checks a new volume.
func (strategy) Validate(obj runtime.Object) field.ErrorList {
	return validate(obj.(*corev1.PersistentVolume))
}

// ValidateUpdate checks an update: the volume source, volume mode and (once
// set) node affinity never change.
func (strategy) ValidateUpdate(obj, old runtime.Object) field.ErrorList {
	pv, oldPV := obj.(*corev1.PersistentVolume), old.(*corev1.PersistentVolume)
	errs := apivalidation.ValidateObjectMetaUpdate(&pv.ObjectMeta, &oldPV.ObjectMeta, field.NewPath("metadata"))
	errs = append(errs, validate(pv)...)
	source := pv.Spec.PersistentVolumeSource
	// A CSI volume may gain the secret its expansion needs.
	if oldCSI, newCSI := oldPV.Spec.CSI, source.CSI; oldCSI != nil && newCSI != nil && oldCSI.ControllerExpandSecretRef == nil && newCSI.ControllerExpandSecretRef != nil {
		source = *source.DeepCopy()
		source.CSI.ControllerExpandSecretRef = nil
	}
	if !apiequality.Semantic.DeepEqual(source, oldPV.Spec.PersistentVolumeSource) {
		errs = append(errs, field.Forbidden(field.NewPath("spec", "persistentvolumesource"),
			fmt.Sprintf("spec.persistentvolumesource is immutable after creation\n%v", diff.Diff(oldPV.Spec.PersistentVolumeSource, source))))
	}
	// Upstream names these two paths without "spec".
	errs = append(errs, apivalidation.ValidateImmutableField(pv.Spec.VolumeMode, oldPV.Spec.VolumeMode, field.NewPath("volumeMode"))...)
	if oldPV.Spec.NodeAffinity != nil && !apiequality.Semantic.DeepEqual(pv.Spec.NodeAffinity, oldPV.Spec.NodeAffinity) {
		errs = append(errs, field.Invalid(field.NewPath("nodeAffinity"), pv.Spec.NodeAffinity, "field is immutable, except for updating from beta label to GA"))
	}
	return errs
}

type statusStrategy struct{}

// PrepareForStatusUpdate keeps the spec from old and stamps the time of a
// phase change the writer did not stamp.
func (statusStrategy) PrepareForStatusUpdate(obj, old runtime.Object) {
	pv, oldPV := obj.(*corev1.PersistentVolume), old.(*corev1.PersistentVolume)
	pv.Spec = oldPV.Spec
	switch {
	case pv.Status.Phase == oldPV.Status.Phase && pv.Status.LastPhaseTransitionTime == nil:
		pv.Status.LastPhaseTransitionTime = oldPV.Status.LastPhaseTransitionTime
	case pv.Status.Phase != oldPV.Status.Phase &&
		(pv.Status.LastPhaseTransitionTime == nil || pv.Status.LastPhaseTransitionTime.Equal(oldPV.Status.LastPhaseTransitionTime)):
		now := metav1.Now()
		pv.Status.LastPhaseTransitionTime = &now
	}
}

var supportedPhases = []corev1.PersistentVolumePhase{
	corev1.VolumeAvailable, corev1.VolumeBound, corev1.VolumeFailed, corev1.VolumePending, corev1.VolumeReleased,
}

// ValidateStatusUpdate checks the phase.
func (statusStrategy) ValidateStatusUpdate(obj, old runtime.Object) field.ErrorList {
	pv, oldPV := obj.(*corev1.PersistentVolume), old.(*corev1.PersistentVolume)
	errs := apivalidation.ValidateObjectMetaUpdate(&pv.ObjectMeta, &oldPV.ObjectMeta, field.NewPath("metadata"))
	if pv.Status.Phase != "" && !has(supportedPhases, pv.Status.Phase) {
		errs = append(errs, field.NotSupported(field.NewPath("status", "phase"), pv.Status.Phase, supportedPhases))
	}
	return errs
}

func has[T comparable](list []T, v T) bool {
	for _, item := range list {
		if item == v {
			return true
		}
	}
	return false
}

var (
	supportedAccessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadOnlyMany, corev1.ReadWriteMany, corev1.ReadWriteOnce, corev1.ReadWriteOncePod}
	supportedReclaim     = []corev1.PersistentVolumeReclaimPolicy{corev1.PersistentVolumeReclaimDelete, corev1.PersistentVolumeReclaimRecycle, corev1.PersistentVolumeReclaimRetain}
	supportedVolumeModes = []corev1.PersistentVolumeMode{corev1.PersistentVolumeBlock, corev1.PersistentVolumeFilesystem}
)

func validate(pv *corev1.PersistentVolume) field.ErrorList {
	errs := apivalidation.ValidateObjectMeta(&pv.ObjectMeta, false, apivalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
	specPath := field.NewPath("spec")
	spec := &pv.Spec

	if len(spec.AccessModes) == 0 {
		errs = append(errs, field.Required(specPath.Child("accessModes"), ""))
	}
	errs = append(errs, validateAccessModes(spec.AccessModes, specPath.Child("accessModes"))...)

	capPath := specPath.Child("capacity")
	if len(spec.Capacity) == 0 {
		errs = append(errs, field.Required(capPath, ""))
	}
	if _, ok := spec.Capacity[corev1.ResourceStorage]; !ok || len(spec.Capacity) > 1 {
		errs = append(errs, field.NotSupported(capPath, spec.Capacity, []corev1.ResourceName{corev1.ResourceStorage}))
	}
	for name, q := range spec.Capacity {
		errs = append(errs, validatePositiveQuantity(q, capPath.Key(string(name)))...)
	}

	if spec.PersistentVolumeReclaimPolicy != "" && !has(supportedReclaim, spec.PersistentVolumeReclaimPolicy) {
		errs = append(errs, field.NotSupported(specPath.Child("persistentVolumeReclaimPolicy"), spec.PersistentVolumeReclaimPolicy, supportedReclaim))
	}
	hasNodeAffinity := false
	if spec.NodeAffinity != nil {
		hasNodeAffinity = true
		if spec.NodeAffinity.Required == nil {
			errs = append(errs, field.Required(specPath.Child("nodeAffinity", "required"), "must specify required node constraints"))
		} else {
			errs = append(errs, validateNodeSelector(spec.NodeAffinity.Required, specPath.Child("nodeAffinity", "required"))...)
		}
	}
	errs = append(errs, validateSource(&spec.PersistentVolumeSource, hasNodeAffinity, specPath)...)
	// Recycling "/" would scrub the node's root file system.
	if spec.HostPath != nil && path.Clean(spec.HostPath.Path) == "/" && spec.PersistentVolumeReclaimPolicy == corev1.PersistentVolumeReclaimRecycle {
		errs = append(errs, field.Forbidden(specPath.Child("persistentVolumeReclaimPolicy"), "may not be 'recycle' for a hostPath mount of '/'"))
	}
	if spec.StorageClassName != "" {
		for _, msg := range apivalidation.NameIsDNSSubdomain(spec.StorageClassName, false) {
			errs = append(errs, field.Invalid(specPath.Child("storageClassName"), spec.StorageClassName, msg))
		}
	}
	if spec.VolumeMode != nil && !has(supportedVolumeModes, *spec.VolumeMode) {
		errs = append(errs, field.NotSupported(specPath.Child("volumeMode"), *spec.VolumeMode, supportedVolumeModes))
	}
	if name := spec.VolumeAttributesClassName; name != nil {
		vacPath := specPath.Child("volumeAttributesClassName")
		if *name == "" {
			errs = append(errs, field.Required(vacPath, "an empty string is disallowed"))
		}
		for _, msg := range apivalidation.NameIsDNSSubdomain(*name, false) {
			errs = append(errs, field.Invalid(vacPath, *name, msg))
		}
		if spec.CSI == nil {
			errs = append(errs, field.Required(specPath.Child("csi"), "has to be specified when using volumeAttributesClassName"))
		}
	}
	return errs
}

func validateAccessModes(modes []corev1.PersistentVolumeAccessMode, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	onePod, others := false, false
	for _, mode := range modes {
		switch {
		case !has(supportedAccessModes, mode):
			errs = append(errs, field.NotSupported(fldPath, mode, supportedAccessModes))
		case mode == corev1.ReadWriteOncePod:
			onePod = true
		default:
			others = true
		}
	}
	if onePod && others {
		errs = append(errs, field.Forbidden(fldPath, "may not use ReadWriteOncePod with other access modes"))
	}
	return errs
}

func validatePositiveQuantity(q resource.Quantity, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if q.Value() < 0 {
		errs = append(errs, field.Invalid(fldPath, q.Value(), "must be a valid resource quantity"))
	}
	if q.Sign() <= 0 {
		errs = append(errs, field.Invalid(fldPath, q.String(), "must be greater than zero"))
	}
	return errs
}

// validateSource checks that exactly one volume source is set, and the
// details of the sources a small cluster uses: hostPath, local, nfs, csi.
func validateSource(s *corev1.PersistentVolumeSource, hasNodeAffinity bool, specPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	count := 0
	for _, src := range []struct {
		name  string
		isSet bool
		check func(*field.Path) field.ErrorList
	}{
		{"hostPath", s.HostPath != nil, func(p *field.Path) field.ErrorList {
			if s.HostPath.Path == "" {
				return field.ErrorList{field.Required(p.Child("path"), "")}
			}
			errs := validateNoBacksteps(s.HostPath.Path, p.Child("path"))
			if t := s.HostPath.Type; t != nil && !has(supportedHostPathTypes, *t) {
				errs = append(errs, field.NotSupported(p.Child("type"), *t, supportedHostPathTypes))
			}
			return errs
		}},
		{"gcePersistentDisk", s.GCEPersistentDisk != nil, nil},
		{"awsElasticBlockStore", s.AWSElasticBlockStore != nil, nil},
		{"glusterfs", s.Glusterfs != nil, nil},
		{"flocker", s.Flocker != nil, nil},
		{"nfs", s.NFS != nil, func(p *field.Path) field.ErrorList {
			var errs field.ErrorList
			if s.NFS.Server == "" {
				errs = append(errs, field.Required(p.Child("server"), ""))
			}
			if s.NFS.Path == "" {
				errs = append(errs, field.Required(p.Child("path"), ""))
			}
			if !path.IsAbs(s.NFS.Path) {
				errs = append(errs, field.Invalid(p.Child("path"), s.NFS.Path, "must be an absolute path"))
			}
			return errs
		}},
		{"rbd", s.RBD != nil, nil},
		{"quobyte", s.Quobyte != nil, nil},
		{"cephFS", s.CephFS != nil, nil},
		{"iscsi", s.ISCSI != nil, func(p *field.Path) field.ErrorList {
			var errs field.ErrorList
			if s.ISCSI.TargetPortal == "" {
				errs = append(errs, field.Required(p.Child("targetPortal"), ""))
			}
			if s.ISCSI.IQN == "" {
				errs = append(errs, field.Required(p.Child("iqn"), ""))
			}
			return errs
		}},
		{"cinder", s.Cinder != nil, nil},
		{"fc", s.FC != nil, nil},
		{"flexVolume", s.FlexVolume != nil, nil},
		{"azureFile", s.AzureFile != nil, nil},
		{"vsphereVolume", s.VsphereVolume != nil, nil},
		{"photonPersistentDisk", s.PhotonPersistentDisk != nil, nil},
		{"portworxVolume", s.PortworxVolume != nil, nil},
		{"azureDisk", s.AzureDisk != nil, nil},
		{"scaleIO", s.ScaleIO != nil, nil},
		{"local", s.Local != nil, func(p *field.Path) field.ErrorList {
			var errs field.ErrorList
			if s.Local.Path == "" {
				errs = append(errs, field.Required(p.Child("path"), ""))
			} else {
				errs = append(errs, validateNoBacksteps(s.Local.Path, p.Child("path"))...)
			}
			// A local volume exists on one node only.
			if !hasNodeAffinity {
				errs = append(errs, field.Required(specPath.Child("nodeAffinity"), "Local volume requires node affinity"))
			}
			return errs
		}},
		{"storageos", s.StorageOS != nil, nil},
		{"csi", s.CSI != nil, func(p *field.Path) field.ErrorList {
			var errs field.ErrorList
			if s.CSI.Driver == "" {
				errs = append(errs, field.Required(p.Child("driver"), ""))
			} else if len(s.CSI.Driver) > 63 {
				errs = append(errs, field.TooLong(p.Child("driver"), s.CSI.Driver, 63))
			} else {
				for _, msg := range validation.IsDNS1123Subdomain(strings.ToLower(s.CSI.Driver)) {
					errs = append(errs, field.Invalid(p.Child("driver"), s.CSI.Driver, msg))
				}
			}
			if s.CSI.VolumeHandle == "" {
				errs = append(errs, field.Required(p.Child("volumeHandle"), ""))
			}
			return errs
		}},
	} {
		if !src.isSet {
			continue
		}
		if count > 0 {
			errs = append(errs, field.Forbidden(specPath.Child(src.name), "may not specify more than 1 volume type"))
			continue
		}
		count++
		if src.check != nil {
			errs = append(errs, src.check(specPath.Child(src.name))...)
		}
	}
	if count == 0 {
		errs = append(errs, field.Required(specPath, "must specify a volume type"))
	}
	return errs
}

var supportedHostPathTypes = []corev1.HostPathType{
	corev1.HostPathUnset, corev1.HostPathBlockDev, corev1.HostPathCharDev, corev1.HostPathDirectory,
	corev1.HostPathDirectoryOrCreate, corev1.HostPathFile, corev1.HostPathFileOrCreate, corev1.HostPathSocket,
}

// validateNoBacksteps rejects a ".." element in a node path.
func validateNoBacksteps(p string, fldPath *field.Path) field.ErrorList {
	for _, part := range strings.Split(filepath.ToSlash(p), "/") {
		if part == ".." {
			return field.ErrorList{field.Invalid(fldPath, p, "must not contain '..'")}
		}
	}
	return nil
}

func validateNodeSelector(s *corev1.NodeSelector, fldPath *field.Path) field.ErrorList {
	termsPath := fldPath.Child("nodeSelectorTerms")
	if len(s.NodeSelectorTerms) == 0 {
		return field.ErrorList{field.Required(termsPath, "must have at least one node selector term")}
	}
	var errs field.ErrorList
	for i, term := range s.NodeSelectorTerms {
		for j, req := range term.MatchExpressions {
			reqPath := termsPath.Index(i).Child("matchExpressions").Index(j)
			switch req.Operator {
			case corev1.NodeSelectorOpIn, corev1.NodeSelectorOpNotIn:
				if len(req.Values) == 0 {
					errs = append(errs, field.Required(reqPath.Child("values"), "must be specified when `operator` is 'In' or 'NotIn'"))
				}
			case corev1.NodeSelectorOpExists, corev1.NodeSelectorOpDoesNotExist:
				if len(req.Values) > 0 {
					errs = append(errs, field.Forbidden(reqPath.Child("values"), "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"))
				}
			case corev1.NodeSelectorOpGt, corev1.NodeSelectorOpLt:
				if len(req.Values) != 1 {
					errs = append(errs, field.Required(reqPath.Child("values"), "must be specified single value when `operator` is 'Lt' or 'Gt'"))
				}
			default:
				errs = append(errs, field.Invalid(reqPath.Child("operator"), req.Operator, "not a valid selector operator"))
			}
			errs = append(errs, metav1validation.ValidateLabelName(req.Key, reqPath.Child("key"))...)
		}
	}
	return errs
}

// table is kubectl get persistentvolumes: NAME CAPACITY ACCESS MODES
// RECLAIM POLICY STATUS CLAIM STORAGECLASS VOLUMEATTRIBUTESCLASS REASON
// AGE, and VOLUMEMODE with -o wide.
var table = &registry.Table{
	Columns: []metav1.TableColumnDefinition{
		registry.NameColumn,
		{Name: "Capacity", Type: "string", Description: corev1.PersistentVolumeSpec{}.SwaggerDoc()["capacity"]},
		{Name: "Access Modes", Type: "string", Description: corev1.PersistentVolumeSpec{}.SwaggerDoc()["accessModes"]},
		{Name: "Reclaim Policy", Type: "string", Description: corev1.PersistentVolumeSpec{}.SwaggerDoc()["persistentVolumeReclaimPolicy"]},
		{Name: "Status", Type: "string", Description: corev1.PersistentVolumeStatus{}.SwaggerDoc()["phase"]},
		{Name: "Claim", Type: "string", Description: corev1.PersistentVolumeSpec{}.SwaggerDoc()["claimRef"]},
		{Name: "StorageClass", Type: "string", Description: "StorageClass of the pv"},
		{Name: "VolumeAttributesClass", Type: "string", Description: "VolumeAttributesClass of the pv"},
		{Name: "Reason", Type: "string", Description: corev1.PersistentVolumeStatus{}.SwaggerDoc()["reason"]},
		registry.AgeColumn,
		{Name: "VolumeMode", Type: "string", Priority: 1, Description: corev1.PersistentVolumeSpec{}.SwaggerDoc()["volumeMode"]},
	},
	Row: func(obj runtime.Object) []interface{} {
		pv := obj.(*corev1.PersistentVolume)
		claim := ""
		if ref := pv.Spec.ClaimRef; ref != nil {
			claim = ref.Namespace + "/" + ref.Name
		}
		capacity := pv.Spec.Capacity[corev1.ResourceStorage]
		phase := string(pv.Status.Phase)
		if pv.DeletionTimestamp != nil {
			phase = "Terminating"
		}
		volumeMode := "<unset>"
		if pv.Spec.VolumeMode != nil {
			volumeMode = string(*pv.Spec.VolumeMode)
		}
		attributesClass := "<unset>"
		if pv.Spec.VolumeAttributesClassName != nil {
			attributesClass = *pv.Spec.VolumeAttributesClassName
		}
		storageClass := pv.Spec.StorageClassName
		if c, ok := pv.Annotations[betaStorageClassAnnotation]; ok {
			storageClass = c
		}
		return []interface{}{
			pv.Name, capacity.String(), accessModesString(pv.Spec.AccessModes), string(pv.Spec.PersistentVolumeReclaimPolicy),
			phase, claim, storageClass, attributesClass, pv.Status.Reason, registry.Age(pv.CreationTimestamp), volumeMode,
		}
	},
}

// accessModesString renders access modes as kubectl shows them, in a
// fixed order without repeats: "RWO,ROX,RWX,RWOP".
func accessModesString(modes []corev1.PersistentVolumeAccessMode) string {
	var out []string
	for _, m := range []struct {
		mode  corev1.PersistentVolumeAccessMode
		short string
	}{
		{corev1.ReadWriteOnce, "RWO"}, {corev1.ReadOnlyMany, "ROX"}, {corev1.ReadWriteMany, "RWX"}, {corev1.ReadWriteOncePod, "RWOP"},
	} {
		if has(modes, m.mode) {
			out = append(out, m.short)
		}
	}
	return strings.Join(out, ",")
}
