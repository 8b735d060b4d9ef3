package controller

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"
)

// Reasons of the events PodControl records on the owner, as upstream.
const (
	FailedCreatePodReason     = "FailedCreate"
	SuccessfulCreatePodReason = "SuccessfulCreate"
	FailedDeletePodReason     = "FailedDelete"
	SuccessfulDeletePodReason = "SuccessfulDelete"
)

// ErrNoPodLabels is returned for a template without labels: such a pod
// could never be matched back to its controller by a selector.
var ErrNoPodLabels = errors.New("controller: unable to create pods, no labels")

// PodControl is how controllers create, delete and patch pods. Each call
// records an event on owner (the controller's object) telling what
// happened.
type PodControl interface {
	// CreatePods creates one pod from template, named "<owner name>-"
	// plus a random suffix, with controllerRef as its controller owner
	// reference.
	CreatePods(ctx context.Context, namespace string, template *corev1.PodTemplateSpec, owner runtime.Object, controllerRef *metav1.OwnerReference) error
	// CreatePodsWithGenerateName is CreatePods with an explicit
	// generateName prefix (for example "<job>-<index>-").
	CreatePodsWithGenerateName(ctx context.Context, namespace string, template *corev1.PodTemplateSpec, owner runtime.Object, controllerRef *metav1.OwnerReference, generateName string) error
	// DeletePod deletes a pod. A pod already gone returns the NotFound
	// error unchanged (test it with apierrors.IsNotFound) and records no
	// event.
	DeletePod(ctx context.Context, namespace, name string, owner runtime.Object) error
	// PatchPod applies a strategic merge patch to a pod.
	PatchPod(ctx context.Context, namespace, name string, data []byte) error
}

// PodCreator creates pod in namespace as a POST to the API server does,
// and returns the name it was given (pod may have a generateName only);
// pod is the creator's afterwards. The API server of this process offers
// one without the HTTP round trip (apiserver.Server.LocalCreate).
type PodCreator func(ctx context.Context, namespace string, pod *corev1.Pod) (name string, err error)

// RealPodControl is the PodControl that talks to the API server.
type RealPodControl struct {
	Client   kubernetes.Interface
	Recorder record.EventRecorder
	// Create, when set, creates pods instead of Client.
	Create PodCreator
}

var _ PodControl = RealPodControl{}

// CreatePods implements PodControl.
func (r RealPodControl) CreatePods(ctx context.Context, namespace string, template *corev1.PodTemplateSpec, owner runtime.Object, controllerRef *metav1.OwnerReference) error {
	return r.CreatePodsWithGenerateName(ctx, namespace, template, owner, controllerRef, "")
}

// CreatePodsWithGenerateName implements PodControl.
func (r RealPodControl) CreatePodsWithGenerateName(ctx context.Context, namespace string, template *corev1.PodTemplateSpec, owner runtime.Object, controllerRef *metav1.OwnerReference, generateName string) error {
	if err := ValidateControllerRef(controllerRef); err != nil {
		return err
	}
	pod, err := PodFromTemplate(template, owner, controllerRef)
	if err != nil {
		return err
	}
	if generateName != "" {
		pod.GenerateName = generateName
	}
	if len(pod.Labels) == 0 {
		return ErrNoPodLabels
	}
	var name string
	if r.Create != nil {
		name, err = r.Create(ctx, namespace, pod)
	} else {
		var created *corev1.Pod
		created, err = r.Client.CoreV1().Pods(namespace).Create(ctx, pod, metav1.CreateOptions{})
		if err == nil {
			name = created.Name
		}
	}
	if err != nil {
		// A terminating namespace refuses every create; saying so on
		// each owner would only be noise.
		if !apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
			r.Recorder.Eventf(owner, corev1.EventTypeWarning, FailedCreatePodReason, "Error creating: %v", err)
		}
		return fmt.Errorf("controller: creating pod in %s: %w", namespace, err)
	}
	klog.FromContext(ctx).V(4).Info("created pod", "pod", klog.KRef(namespace, name), "controller", controllerRef.Name)
	r.Recorder.Eventf(owner, corev1.EventTypeNormal, SuccessfulCreatePodReason, "Created pod: %v", name)
	return nil
}

// DeletePod implements PodControl.
func (r RealPodControl) DeletePod(ctx context.Context, namespace, name string, owner runtime.Object) error {
	err := r.Client.CoreV1().Pods(namespace).Delete(ctx, name, metav1.DeleteOptions{})
	if apierrors.IsNotFound(err) {
		return err
	}
	if err != nil {
		r.Recorder.Eventf(owner, corev1.EventTypeWarning, FailedDeletePodReason, "Error deleting: %v", err)
		return fmt.Errorf("controller: deleting pod %s/%s: %w", namespace, name, err)
	}
	r.Recorder.Eventf(owner, corev1.EventTypeNormal, SuccessfulDeletePodReason, "Deleted pod: %v", name)
	return nil
}

// PatchPod implements PodControl.
func (r RealPodControl) PatchPod(ctx context.Context, namespace, name string, data []byte) error {
	_, err := r.Client.CoreV1().Pods(namespace).Patch(ctx, name, types.StrategicMergePatchType, data, metav1.PatchOptions{})
	if err != nil {
		return fmt.Errorf("controller: patching pod %s/%s: %w", namespace, name, err)
	}
	return nil
}

// ValidateControllerRef checks that ref is a complete controller
// reference.
func ValidateControllerRef(ref *metav1.OwnerReference) error {
	switch {
	case ref == nil:
		return errors.New("controller: controllerRef is nil")
	case ref.APIVersion == "":
		return errors.New("controller: controllerRef has empty APIVersion")
	case ref.Kind == "":
		return errors.New("controller: controllerRef has empty Kind")
	case ref.Controller == nil || !*ref.Controller:
		return errors.New("controller: controllerRef.Controller is not set to true")
	case ref.BlockOwnerDeletion == nil || !*ref.BlockOwnerDeletion:
		return errors.New("controller: controllerRef.BlockOwnerDeletion is not set")
	}
	return nil
}

// PodFromTemplate builds the pod a controller creates from template:
// labels, annotations, finalizers and spec copied, generateName
// "<owner name>-", and controllerRef (when not nil) as an owner reference.
func PodFromTemplate(template *corev1.PodTemplateSpec, owner runtime.Object, controllerRef *metav1.OwnerReference) (*corev1.Pod, error) {
	accessor, err := metaOf(owner)
	if err != nil {
		return nil, err
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Labels:       copyStringMap(template.Labels),
			Annotations:  copyStringMap(template.Annotations),
			GenerateName: accessor.GetName() + "-",
			Finalizers:   append([]string(nil), template.Finalizers...),
		},
	}
	if controllerRef != nil {
		pod.OwnerReferences = append(pod.OwnerReferences, *controllerRef)
	}
	pod.Spec = *template.Spec.DeepCopy()
	return pod, nil
}

func metaOf(obj runtime.Object) (metav1.Object, error) {
	accessor, ok := obj.(metav1.Object)
	if !ok {
		return nil, fmt.Errorf("controller: owner %T has no object metadata", obj)
	}
	return accessor, nil
}

func copyStringMap(in map[string]string) map[string]string {
	if in == nil {
		return nil
	}
	out := make(map[string]string, len(in))
	for k, v := range in {
		out[k] = v
	}
	return out
}
