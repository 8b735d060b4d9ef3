package controllertest

import (
	"context"
	"fmt"
	"sync"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/navarch/navarch/internal/controller"
)

// FakePodControl is a controller.PodControl that records calls. Set Err
// to make every call fail with it; set CreateLimit to make creates fail
// once that many have been recorded. It is safe for concurrent use (the
// controllers create in parallel batches).
type FakePodControl struct {
	mu sync.Mutex
	// Templates are the templates of the pods created, in order.
	Templates []corev1.PodTemplateSpec
	// Pods are the pods that would have been created, as
	// controller.PodFromTemplate builds them.
	Pods []*corev1.Pod
	// ControllerRefs are the controller references of the creates.
	ControllerRefs []metav1.OwnerReference
	// DeletePodNames are "namespace/name" of the deletes, in order.
	DeletePodNames []string
	// Patches are the patch bodies, in order.
	Patches [][]byte
	// PatchedPodNames are the "namespace/name" of the patches.
	PatchedPodNames []string

	Err         error
	CreateLimit int
	CreateCalls int
}

var _ controller.PodControl = (*FakePodControl)(nil)

// CreatePods implements controller.PodControl.
func (f *FakePodControl) CreatePods(ctx context.Context, namespace string, template *corev1.PodTemplateSpec, owner runtime.Object, controllerRef *metav1.OwnerReference) error {
	return f.CreatePodsWithGenerateName(ctx, namespace, template, owner, controllerRef, "")
}

// CreatePodsWithGenerateName implements controller.PodControl.
func (f *FakePodControl) CreatePodsWithGenerateName(_ context.Context, namespace string, template *corev1.PodTemplateSpec, owner runtime.Object, controllerRef *metav1.OwnerReference, generateName string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.CreateCalls++
	if f.CreateLimit != 0 && f.CreateCalls > f.CreateLimit {
		return fmt.Errorf("controllertest: not creating pod, limit %d reached (create call %d)", f.CreateLimit, f.CreateCalls)
	}
	if f.Err != nil {
		return f.Err
	}
	if err := controller.ValidateControllerRef(controllerRef); err != nil {
		return err
	}
	pod, err := controller.PodFromTemplate(template, owner, controllerRef)
	if err != nil {
		return err
	}
	pod.Namespace = namespace
	if generateName != "" {
		pod.GenerateName = generateName
	}
	f.Templates = append(f.Templates, *template.DeepCopy())
	f.Pods = append(f.Pods, pod)
	f.ControllerRefs = append(f.ControllerRefs, *controllerRef)
	return nil
}

// DeletePod implements controller.PodControl.
func (f *FakePodControl) DeletePod(_ context.Context, namespace, name string, _ runtime.Object) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.Err != nil {
		return f.Err
	}
	f.DeletePodNames = append(f.DeletePodNames, namespace+"/"+name)
	return nil
}

// PatchPod implements controller.PodControl.
func (f *FakePodControl) PatchPod(_ context.Context, namespace, name string, data []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.Err != nil {
		return f.Err
	}
	f.Patches = append(f.Patches, append([]byte(nil), data...))
	f.PatchedPodNames = append(f.PatchedPodNames, namespace+"/"+name)
	return nil
}

// Clear forgets every recorded call (Err and CreateLimit stay).
func (f *FakePodControl) Clear() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Templates, f.Pods, f.ControllerRefs = nil, nil, nil
	f.DeletePodNames, f.Patches, f.PatchedPodNames = nil, nil, nil
	f.CreateCalls = 0
}
