// Package pod is the registry entry of core/v1 Pod: its defaults, its
// validation, the split between spec and status, the kubectl get columns
// and the fields a field selector may name.
//
// It also exports the pod-spec rules other kinds reuse for their pod
// templates (Deployment, Job, ...): DefaultPodSpec, ValidatePodSpec and
// ValidatePodTemplateSpec. Those follow upstream's defaulters and
// validation for templates; what upstream's admission plugins add to a pod
// only when it is created (the default service account, the not-ready and
// unreachable tolerations) is done by the pod strategy alone.
package pod
