package apiserver

import (
	"context"
	"fmt"
	"net/http"
	"sync"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/navarch/navarch/internal/storage"
)

var (
	servicesGR = schema.GroupResource{Resource: "services"}
	nodesGR    = schema.GroupResource{Resource: "nodes"}
)

// serveSubresource dispatches requests to OBJECT/SUBRESOURCE.
func (s *Server) serveSubresource(w http.ResponseWriter, r *http.Request, res *resource, info requestInfo) {
	if len(info.Parts) > 3 && !isStreamingSubresource(info.Subresource) {
		writeError(w, r, notFoundPath())
		return
	}
	isPods := res.gr == schema.GroupResource{Resource: "pods"}
	switch {
	case info.Subresource == "status" && res.kind.Status != nil:
		switch info.Verb {
		case "get":
			s.get(w, r, res, info)
		case "update":
			s.update(w, r, res, info, updateStatus)
		case "patch":
			s.patch(w, r, res, info, updateStatus)
		default:
			writeError(w, r, methodNotSupported(res, info.Verb))
		}
	case res.kind.Subresources[info.Subresource] != nil:
		switch info.Verb {
		case "get":
			s.get(w, r, res, info)
		case "update":
			s.update(w, r, res, info, updateTarget(info.Subresource))
		case "patch":
			s.patch(w, r, res, info, updateTarget(info.Subresource))
		default:
			writeError(w, r, methodNotSupported(res, info.Verb))
		}
	case info.Subresource == "scale" && res.kind.Scale != nil:
		s.serveScale(w, r, res, info)
	case info.Subresource == "finalize" && res.gr == namespacesGR && info.Verb == "update":
		s.finalizeNamespace(w, r, res, info)
	case isPods && info.Subresource == "binding" && info.Verb == "create":
		s.bindPod(w, r, res, info)
	case isPods && info.Subresource == "eviction" && info.Verb == "create":
		s.evictPod(w, r, res, info)
	case res.gr == serviceAccountsGR && info.Subresource == "token" && info.Verb == "create":
		s.requestToken(w, r, res, info)
	case info.Subresource == "proxy" && (isPods || res.gr == servicesGR || res.gr == nodesGR):
		s.serveProxy(w, r, res, info)
	case isPods && isStreamingSubresource(info.Subresource):
		s.servePodStream(w, r, res, info)
	default:
		writeError(w, r, notFoundPath())
	}
}

// isStreamingSubresource reports whether sub is a subresource whose URL
// may go on after it (proxy/PATH) or that streams.
func isStreamingSubresource(sub string) bool {
	switch sub {
	case "log", "exec", "attach", "portforward", "proxy":
		return true
	}
	return false
}

// serveScale answers the scale subresource with an autoscaling/v1 Scale.
func (s *Server) serveScale(w http.ResponseWriter, r *http.Request, res *resource, info requestInfo) {
	scaleGR := res.gr
	switch info.Verb {
	case "get":
		obj, err := s.getServed(r.Context(), res, info.Namespace, info.Name, "")
		if err != nil {
			writeError(w, r, err)
			return
		}
		s.respondScale(w, r, res, obj)
	case "update", "patch":
		isDryRun, err := dryRun(r)
		if err != nil {
			writeError(w, r, err)
			return
		}
		var body []byte
		var patchType types.PatchType
		if info.Verb == "update" {
			if body, err = readBody(r); err != nil {
				writeError(w, r, err)
				return
			}
		} else if patchType, body, err = readPatch(r); err != nil {
			writeError(w, r, err)
			return
		}
		out, err := s.updateObject(r.Context(), res, info.Namespace, info.Name, updateMain, isDryRun, func(existing runtime.Object) (runtime.Object, error) {
			current := scaleOf(res, existing)
			var scale *autoscalingv1.Scale
			if info.Verb == "update" {
				obj, err := decodeBody(w, r, res, body, autoscalingv1.SchemeGroupVersion.WithKind("Scale"), &autoscalingv1.Scale{})
				if err != nil {
					return nil, err
				}
				scale = obj.(*autoscalingv1.Scale)
			} else {
				obj, _, err := applyPatch(autoscalingv1.SchemeGroupVersion.WithKind("Scale"), func() runtime.Object { return &autoscalingv1.Scale{} }, current, patchType, body)
				if err != nil {
					return nil, err
				}
				scale = obj.(*autoscalingv1.Scale)
			}
			if scale.Name != "" && scale.Name != info.Name {
				return nil, apierrors.NewBadRequest(fmt.Sprintf("the name of the object (%s) does not match the name on the URL (%s)", scale.Name, info.Name))
			}
			if scale.ResourceVersion != "" && scale.ResourceVersion != current.ResourceVersion {
				return nil, apierrors.NewConflict(scaleGR, info.Name, fmt.Errorf("%s", objectModifiedMsg))
			}
			if scale.Spec.Replicas < 0 {
				return nil, apierrors.NewInvalid(autoscalingv1.SchemeGroupVersion.WithKind("Scale").GroupKind(), info.Name,
					field.ErrorList{field.Invalid(field.NewPath("spec", "replicas"), scale.Spec.Replicas, "must be greater than or equal to 0")})
			}
			updated := existing.DeepCopyObject()
			res.kind.Scale.SetReplicas(updated, scale.Spec.Replicas)
			return updated, nil
		})
		if err != nil {
			writeError(w, r, err)
			return
		}
		s.respondScale(w, r, res, out)
	default:
		writeError(w, r, methodNotSupported(res, info.Verb))
	}
}

// scaleOf returns the Scale view of an object.
func scaleOf(res *resource, obj runtime.Object) *autoscalingv1.Scale {
	m, _ := meta.Accessor(obj)
	spec, status, selector := res.kind.Scale.Get(obj)
	return &autoscalingv1.Scale{
		TypeMeta: metav1.TypeMeta{APIVersion: "autoscaling/v1", Kind: "Scale"},
		ObjectMeta: metav1.ObjectMeta{
			Name: m.GetName(), Namespace: m.GetNamespace(), UID: m.GetUID(),
			ResourceVersion: m.GetResourceVersion(), CreationTimestamp: m.GetCreationTimestamp(),
		},
		Spec:   autoscalingv1.ScaleSpec{Replicas: spec},
		Status: autoscalingv1.ScaleStatus{Replicas: status, Selector: selector},
	}
}

func (s *Server) respondScale(w http.ResponseWriter, r *http.Request, res *resource, obj runtime.Object) {
	n, ok := negotiate(r, nil)
	if !ok {
		writeError(w, r, notAcceptable(r))
		return
	}
	writeTyped(w, n.info, http.StatusOK, autoscalingv1.SchemeGroupVersion, scaleOf(res, obj))
}

// bindPod answers pods/binding: the scheduler assigns a pod to a node.
func (s *Server) bindPod(w http.ResponseWriter, r *http.Request, res *resource, info requestInfo) {
	body, err := readBody(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	obj, err := decodeBody(w, r, res, body, corev1.SchemeGroupVersion.WithKind("Binding"), &corev1.Binding{})
	if err != nil {
		writeError(w, r, err)
		return
	}
	binding := obj.(*corev1.Binding)
	if binding.Name != "" && binding.Name != info.Name {
		writeError(w, r, apierrors.NewBadRequest(fmt.Sprintf("the name of the object (%s) does not match the name on the URL (%s)", binding.Name, info.Name)))
		return
	}
	if err := s.bind(r.Context(), res, info.Namespace, info.Name, binding); err != nil {
		writeError(w, r, err)
		return
	}
	writeStatus(w, r, &metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: metav1.StatusSuccess, Code: http.StatusCreated})
}

// bind assigns pod namespace/name (of res, the pods) to the node binding
// targets, as a POST of pods/binding does.
func (s *Server) bind(ctx context.Context, res *resource, namespace, name string, binding *corev1.Binding) error {
	if binding.Target.Kind != "" && binding.Target.Kind != "Node" {
		return apierrors.NewInvalid(corev1.SchemeGroupVersion.WithKind("Binding").GroupKind(), name,
			field.ErrorList{field.NotSupported(field.NewPath("target", "kind"), binding.Target.Kind, []string{"Node", "<empty>"})})
	}
	if binding.Target.Name == "" {
		return apierrors.NewInvalid(corev1.SchemeGroupVersion.WithKind("Binding").GroupKind(), name,
			field.ErrorList{field.Required(field.NewPath("target", "name"), "")})
	}
	// Binding writes spec.nodeName, which no update of the pod may change,
	// so it goes straight to storage. The answer is a Status: out is
	// dropped, so the store need not decode it, and it is recycled.
	out := bindResults.Get().(*corev1.Pod)
	defer func() {
		*out = corev1.Pod{}
		bindResults.Put(out)
	}()
	err := res.store.GuaranteedUpdate(storage.WithWrittenResult(ctx), res.key(namespace, name), out, false, nil, func(current runtime.Object) (runtime.Object, error) {
		pod := current.(*corev1.Pod)
		if binding.UID != "" && binding.UID != pod.UID {
			return nil, apierrors.NewConflict(res.gr, pod.Name, fmt.Errorf("Precondition failed: UID in precondition: %v, UID in object meta: %v", binding.UID, pod.UID))
		}
		if pod.DeletionTimestamp != nil {
			return nil, apierrors.NewConflict(res.gr, pod.Name, fmt.Errorf("pod %s is being deleted, cannot be assigned to a host", pod.Name))
		}
		if pod.Spec.NodeName != "" {
			return nil, apierrors.NewConflict(res.gr, pod.Name, fmt.Errorf("pod %s is already assigned to node %q", pod.Name, pod.Spec.NodeName))
		}
		pod.Spec.NodeName = binding.Target.Name
		setPodCondition(pod, corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now()})
		return pod, nil
	})
	if err != nil {
		return storageError(err, res.gr, name)
	}
	return nil
}

// bindResults holds the zeroed pods bindPod has the store write its
// result into (a Pod's struct is over a kilobyte; every pod is bound once).
var bindResults = sync.Pool{New: func() any { return new(corev1.Pod) }}

// setPodCondition sets or replaces a condition of a pod.
func setPodCondition(pod *corev1.Pod, c corev1.PodCondition) {
	for i := range pod.Status.Conditions {
		if pod.Status.Conditions[i].Type == c.Type {
			if pod.Status.Conditions[i].Status == c.Status {
				c.LastTransitionTime = pod.Status.Conditions[i].LastTransitionTime
			}
			pod.Status.Conditions[i] = c
			return
		}
	}
	pod.Status.Conditions = append(pod.Status.Conditions, c)
}

// evictPod answers pods/eviction: the pod is deleted with the eviction's
// delete options. (Navarch serves no PodDisruptionBudgets yet, so no
// budget can refuse an eviction.)
func (s *Server) evictPod(w http.ResponseWriter, r *http.Request, res *resource, info requestInfo) {
	body, err := readBody(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	obj, err := decodeBody(w, r, res, body, policyv1.SchemeGroupVersion.WithKind("Eviction"), &policyv1.Eviction{})
	if err != nil {
		writeError(w, r, err)
		return
	}
	eviction := obj.(*policyv1.Eviction)
	if eviction.Name != "" && eviction.Name != info.Name {
		writeError(w, r, apierrors.NewBadRequest(fmt.Sprintf("name in URL does not match name in Eviction object")))
		return
	}
	opts := eviction.DeleteOptions
	if opts == nil {
		opts = &metav1.DeleteOptions{}
	}
	if _, _, err := s.deleteObject(r.Context(), res, info.Namespace, info.Name, opts); err != nil {
		writeError(w, r, err)
		return
	}
	writeStatus(w, r, &metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: metav1.StatusSuccess, Code: http.StatusCreated})
}

// finalizeNamespace answers namespaces/finalize: it replaces the
// namespace's spec.finalizers, and removes the namespace once it is being
// deleted and nothing holds it anymore.
func (s *Server) finalizeNamespace(w http.ResponseWriter, r *http.Request, res *resource, info requestInfo) {
	body, err := readBody(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	obj, err := decodeBody(w, r, res, body, corev1.SchemeGroupVersion.WithKind("Namespace"), &corev1.Namespace{})
	if err != nil {
		writeError(w, r, err)
		return
	}
	in := obj.(*corev1.Namespace)
	if in.Name != info.Name {
		writeError(w, r, apierrors.NewBadRequest(fmt.Sprintf("the name of the object (%s) does not match the name on the URL (%s)", in.Name, info.Name)))
		return
	}
	out := &corev1.Namespace{}
	err = res.store.GuaranteedUpdate(r.Context(), res.key("", info.Name), out, false, nil, func(current runtime.Object) (runtime.Object, error) {
		ns := current.(*corev1.Namespace)
		if in.ResourceVersion != "" && in.ResourceVersion != ns.ResourceVersion {
			return nil, apierrors.NewConflict(res.gr, ns.Name, fmt.Errorf("%s", objectModifiedMsg))
		}
		ns.Spec.Finalizers = in.Spec.Finalizers
		return ns, nil
	})
	if err != nil {
		writeError(w, r, storageError(err, res.gr, info.Name))
		return
	}
	if _, err := s.finishDeletionIfReady(r.Context(), res, out); err != nil {
		writeError(w, r, err)
		return
	}
	s.respond(w, r, res, http.StatusOK, out)
}
