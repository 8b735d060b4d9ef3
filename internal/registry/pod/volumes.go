package pod

import (
	"path"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// fileModeErrorMsg is upstream's message for a file mode out of range.
const fileModeErrorMsg = "must be a number between 0 and 0777 (octal), both inclusive"

// Shortest and longest lifetime of a projected service account token.
const (
	minTokenExpirationSeconds = 10 * 60
	maxTokenExpirationSeconds = 1 << 32
)

// validateVolumes checks the pod's volumes and returns the valid ones by
// name, for the containers' volumeMounts to refer to. isPod adds the rules
// upstream applies only to Pod objects.
func validateVolumes(volumes []corev1.Volume, fldPath *field.Path, isPod bool) (map[string]corev1.VolumeSource, field.ErrorList) {
	var errs field.ErrorList
	byName := map[string]corev1.VolumeSource{}
	for i, v := range volumes {
		idxPath := fldPath.Index(i)
		namePath := idxPath.Child("name")
		volErrs := validateVolumeSource(&v.VolumeSource, idxPath, isPod)
		if v.Name == "" {
			volErrs = append(volErrs, field.Required(namePath, ""))
		} else {
			volErrs = append(volErrs, validateDNS1123Label(v.Name, namePath)...)
		}
		if _, seen := byName[v.Name]; seen {
			volErrs = append(volErrs, field.Duplicate(namePath, v.Name))
		}
		if len(volErrs) == 0 {
			byName[v.Name] = v.VolumeSource
		}
		errs = append(errs, volErrs...)
	}
	return byName, errs
}

// volumeSource is one way a volume can be filled, by its JSON name.
type volumeSource struct {
	name  string
	isSet bool
	check func(fldPath *field.Path) field.ErrorList
}

// validateVolumeSource checks that exactly one source is set and the
// details of the sources users write by hand. A second source is reported
// as forbidden and not checked further.
func validateVolumeSource(s *corev1.VolumeSource, fldPath *field.Path, isPod bool) field.ErrorList {
	var errs field.ErrorList
	count := 0
	for _, src := range volumeSources(s, isPod) {
		if !src.isSet {
			continue
		}
		if count > 0 {
			errs = append(errs, field.Forbidden(fldPath.Child(src.name), "may not specify more than 1 volume type"))
			continue
		}
		count++
		if src.check != nil {
			errs = append(errs, src.check(fldPath.Child(src.name))...)
		}
	}
	if count == 0 {
		errs = append(errs, field.Required(fldPath, "must specify a volume type"))
	}
	return errs
}

// volumeSources lists the sources of s in upstream's order, which decides
// which of two sources is reported as the extra one.
func volumeSources(s *corev1.VolumeSource, isPod bool) []volumeSource {
	return []volumeSource{
		{"emptyDir", s.EmptyDir != nil, func(p *field.Path) field.ErrorList {
			if s.EmptyDir.SizeLimit != nil && s.EmptyDir.SizeLimit.Sign() < 0 {
				return field.ErrorList{field.Forbidden(p.Child("sizeLimit"), "SizeLimit field must be a valid resource quantity")}
			}
			return nil
		}},
		{"hostPath", s.HostPath != nil, func(p *field.Path) field.ErrorList { return validateHostPath(s.HostPath, p) }},
		{"gitRepo", s.GitRepo != nil, func(p *field.Path) field.ErrorList {
			var errs field.ErrorList
			if s.GitRepo.Repository == "" {
				errs = append(errs, field.Required(p.Child("repository"), ""))
			}
			return append(errs, validateLocalDescendingPath(s.GitRepo.Directory, p.Child("directory"))...)
		}},
		{"gcePersistentDisk", s.GCEPersistentDisk != nil, nil},
		{"awsElasticBlockStore", s.AWSElasticBlockStore != nil, nil},
		{"secret", s.Secret != nil, func(p *field.Path) field.ErrorList {
			var errs field.ErrorList
			if s.Secret.SecretName == "" {
				errs = append(errs, field.Required(p.Child("secretName"), ""))
			}
			errs = append(errs, validateFileMode(s.Secret.DefaultMode, p.Child("defaultMode"))...)
			return append(errs, validateKeyToPaths(s.Secret.Items, p.Child("items"))...)
		}},
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
		{"iscsi", s.ISCSI != nil, nil},
		{"glusterfs", s.Glusterfs != nil, nil},
		{"flocker", s.Flocker != nil, nil},
		{"persistentVolumeClaim", s.PersistentVolumeClaim != nil, func(p *field.Path) field.ErrorList {
			if s.PersistentVolumeClaim.ClaimName == "" {
				return field.ErrorList{field.Required(p.Child("claimName"), "")}
			}
			return nil
		}},
		{"rbd", s.RBD != nil, nil},
		{"cinder", s.Cinder != nil, nil},
		{"cephFS", s.CephFS != nil, nil},
		{"quobyte", s.Quobyte != nil, nil},
		{"downwardAPI", s.DownwardAPI != nil, func(p *field.Path) field.ErrorList {
			errs := validateFileMode(s.DownwardAPI.DefaultMode, p.Child("defaultMode"))
			for _, f := range s.DownwardAPI.Items {
				errs = append(errs, validateDownwardAPIFile(f, p)...)
			}
			return errs
		}},
		{"fc", s.FC != nil, nil},
		{"flexVolume", s.FlexVolume != nil, func(p *field.Path) field.ErrorList {
			if s.FlexVolume.Driver == "" {
				return field.ErrorList{field.Required(p.Child("driver"), "")}
			}
			return nil
		}},
		{"configMap", s.ConfigMap != nil, func(p *field.Path) field.ErrorList {
			var errs field.ErrorList
			if s.ConfigMap.Name == "" {
				errs = append(errs, field.Required(p.Child("name"), ""))
			}
			errs = append(errs, validateFileMode(s.ConfigMap.DefaultMode, p.Child("defaultMode"))...)
			return append(errs, validateKeyToPaths(s.ConfigMap.Items, p.Child("items"))...)
		}},
		{"azureFile", s.AzureFile != nil, nil},
		{"vsphereVolume", s.VsphereVolume != nil, nil},
		{"photonPersistentDisk", s.PhotonPersistentDisk != nil, nil},
		{"portworxVolume", s.PortworxVolume != nil, nil},
		{"azureDisk", s.AzureDisk != nil, nil},
		{"storageos", s.StorageOS != nil, nil},
		{"projected", s.Projected != nil, func(p *field.Path) field.ErrorList { return validateProjected(s.Projected, p) }},
		{"scaleIO", s.ScaleIO != nil, nil},
		{"csi", s.CSI != nil, func(p *field.Path) field.ErrorList { return validateCSIDriverName(s.CSI.Driver, p.Child("driver")) }},
		{"ephemeral", s.Ephemeral != nil, func(p *field.Path) field.ErrorList {
			if s.Ephemeral.VolumeClaimTemplate == nil {
				return field.ErrorList{field.Required(p.Child("volumeClaimTemplate"), "")}
			}
			return nil
		}},
		{"image", s.Image != nil, func(p *field.Path) field.ErrorList {
			var errs field.ErrorList
			// Templates may leave the reference for a controller to fill.
			if isPod && s.Image.Reference == "" {
				errs = append(errs, field.Required(p.Child("reference"), ""))
			}
			switch s.Image.PullPolicy {
			case "", corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever:
			default:
				errs = append(errs, field.NotSupported(p.Child("pullPolicy"), s.Image.PullPolicy,
					[]corev1.PullPolicy{corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever}))
			}
			return errs
		}},
	}
}

var supportedHostPathTypes = []corev1.HostPathType{
	corev1.HostPathUnset, corev1.HostPathBlockDev, corev1.HostPathCharDev, corev1.HostPathDirectory,
	corev1.HostPathDirectoryOrCreate, corev1.HostPathFile, corev1.HostPathFileOrCreate, corev1.HostPathSocket,
}

func validateHostPath(h *corev1.HostPathVolumeSource, fldPath *field.Path) field.ErrorList {
	if h.Path == "" {
		return field.ErrorList{field.Required(fldPath.Child("path"), "")}
	}
	errs := validatePathNoBacksteps(h.Path, fldPath.Child("path"))
	if h.Type != nil {
		known := false
		for _, t := range supportedHostPathTypes {
			known = known || *h.Type == t
		}
		if !known {
			errs = append(errs, field.NotSupported(fldPath.Child("type"), *h.Type, supportedHostPathTypes))
		}
	}
	return errs
}

// validateCSIDriverName checks a CSI driver name: a DNS subdomain of at
// most 63 characters, as the CSI spec asks.
func validateCSIDriverName(driver string, fldPath *field.Path) field.ErrorList {
	if driver == "" {
		return field.ErrorList{field.Required(fldPath, "")}
	}
	if len(driver) > 63 {
		return field.ErrorList{field.TooLong(fldPath, driver, 63)}
	}
	var errs field.ErrorList
	for _, msg := range validation.IsDNS1123Subdomain(strings.ToLower(driver)) {
		errs = append(errs, field.Invalid(fldPath, driver, msg))
	}
	return errs
}

func validateFileMode(mode *int32, fldPath *field.Path) field.ErrorList {
	if mode != nil && (*mode > 0o777 || *mode < 0) {
		return field.ErrorList{field.Invalid(fldPath, *mode, fileModeErrorMsg)}
	}
	return nil
}

func validateKeyToPaths(items []corev1.KeyToPath, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, item := range items {
		errs = append(errs, validateKeyToPath(item, fldPath.Index(i))...)
	}
	return errs
}

func validateKeyToPath(item corev1.KeyToPath, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if item.Key == "" {
		errs = append(errs, field.Required(fldPath.Child("key"), ""))
	}
	if item.Path == "" {
		errs = append(errs, field.Required(fldPath.Child("path"), ""))
	}
	errs = append(errs, validateLocalNonReservedPath(item.Path, fldPath.Child("path"))...)
	return append(errs, validateFileMode(item.Mode, fldPath.Child("mode"))...)
}

// validateDownwardAPIFile checks one file of a downwardAPI volume or
// projection. Upstream reports its errors under the source's path, not
// the item's index; so does this.
func validateDownwardAPIFile(f corev1.DownwardAPIVolumeFile, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if f.Path == "" {
		errs = append(errs, field.Required(fldPath.Child("path"), ""))
	}
	errs = append(errs, validateLocalNonReservedPath(f.Path, fldPath.Child("path"))...)
	switch {
	case f.FieldRef != nil:
		errs = append(errs, validateObjectFieldSelector(f.FieldRef, volumeFieldPaths, fldPath.Child("fieldRef"))...)
		if f.ResourceFieldRef != nil {
			errs = append(errs, field.Invalid(fldPath, "resource", "fieldRef and resourceFieldRef can not be specified simultaneously"))
		}
	case f.ResourceFieldRef != nil:
		errs = append(errs, validateResourceFieldSelector(f.ResourceFieldRef, true, fldPath.Child("resourceFieldRef"))...)
	default:
		errs = append(errs, field.Required(fldPath, "one of fieldRef and resourceFieldRef is required"))
	}
	return append(errs, validateFileMode(f.Mode, fldPath.Child("mode"))...)
}

func validateProjected(p *corev1.ProjectedVolumeSource, fldPath *field.Path) field.ErrorList {
	errs := validateFileMode(p.DefaultMode, fldPath.Child("defaultMode"))
	// Files of all sources land in one directory, so their paths must
	// not collide.
	paths := sets.New[string]()
	claimPath := func(file string, value interface{}) {
		if file == "" {
			return
		}
		if paths.Has(file) {
			errs = append(errs, field.Invalid(fldPath, value, "conflicting duplicate paths"))
		}
		paths.Insert(file)
	}
	for i, src := range p.Sources {
		srcPath := fldPath.Child("sources").Index(i)
		count := 0
		if s := src.Secret; s != nil {
			count++
			if s.Name == "" {
				errs = append(errs, field.Required(srcPath.Child("secret", "name"), ""))
			}
			for j, item := range s.Items {
				errs = append(errs, validateKeyToPath(item, srcPath.Child("secret", "items").Index(j))...)
				claimPath(item.Path, s.Name)
			}
		}
		if c := src.ConfigMap; c != nil {
			count++
			if c.Name == "" {
				errs = append(errs, field.Required(srcPath.Child("configMap", "name"), ""))
			}
			for j, item := range c.Items {
				errs = append(errs, validateKeyToPath(item, srcPath.Child("configMap", "items").Index(j))...)
				claimPath(item.Path, c.Name)
			}
		}
		if d := src.DownwardAPI; d != nil {
			count++
			for _, f := range d.Items {
				errs = append(errs, validateDownwardAPIFile(f, srcPath.Child("downwardAPI"))...)
				claimPath(f.Path, f.Path)
			}
		}
		if t := src.ServiceAccountToken; t != nil {
			count++
			tokenPath := srcPath.Child("serviceAccountToken")
			if t.ExpirationSeconds != nil {
				if *t.ExpirationSeconds < minTokenExpirationSeconds {
					errs = append(errs, field.Invalid(tokenPath.Child("expirationSeconds"), *t.ExpirationSeconds, "may not specify a duration less than 10 minutes"))
				}
				if *t.ExpirationSeconds > maxTokenExpirationSeconds {
					errs = append(errs, field.Invalid(tokenPath.Child("expirationSeconds"), *t.ExpirationSeconds, "may not specify a duration larger than 2^32 seconds"))
				}
			}
			if t.Path == "" {
				errs = append(errs, field.Required(fldPath.Child("path"), ""))
			} else {
				errs = append(errs, validateLocalNonReservedPath(t.Path, fldPath.Child("path"))...)
			}
		}
		if b := src.ClusterTrustBundle; b != nil {
			count++
			bundlePath := srcPath.Child("clusterTrustBundle")
			if b.Path == "" {
				errs = append(errs, field.Required(bundlePath.Child("path"), ""))
			}
			errs = append(errs, validateLocalNonReservedPath(b.Path, bundlePath.Child("path"))...)
			claimPath(b.Path, b.Path)
		}
		if src.PodCertificate != nil {
			count++
		}
		if count > 1 {
			errs = append(errs, field.Forbidden(srcPath, "may not specify more than 1 volume type per source"))
		}
	}
	return errs
}
