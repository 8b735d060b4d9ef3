package daemonset

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/navarch/navarch/internal/controller"
	"hash/fnv"
	"sort"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/apimachinery/pkg/util/sets"
)

// revisionData is the ControllerRevision data of a pod template.
func revisionData(template *corev1.PodTemplateSpec) ([]byte, error) {
	return controller.TemplateRevisionData(template)
}

// sameTemplate reports whether a revision stores template.
func sameTemplate(rev *appsv1.ControllerRevision, template *corev1.PodTemplateSpec) bool {
	var data struct {
		Spec struct {
			Template corev1.PodTemplateSpec `json:"template"`
		} `json:"spec"`
	}
	if err := json.Unmarshal(rev.Data.Raw, &data); err != nil {
		return false
	}
	return apiequality.Semantic.DeepEqual(&data.Spec.Template, template)
}

// hashRevision hashes revision data, salted with the collision count:
// FNV-32 in the letters rand.SafeEncodeString uses, as upstream does.
func hashRevision(data []byte, collisionCount *int32) string {
	h := fnv.New32()
	h.Write(data)
	if collisionCount != nil {
		h.Write([]byte(strconv.FormatInt(int64(*collisionCount), 10)))
	}
	return rand.SafeEncodeString(fmt.Sprint(h.Sum32()))
}

// currentRevision returns the revision of the DaemonSet's template,
// creating it (number: newest plus one) or renumbering an earlier equal
// one, and the collision count to record. revs are sorted by number.
func (c *Controller) currentRevision(ctx context.Context, ds *appsv1.DaemonSet, revs []*appsv1.ControllerRevision) (*appsv1.ControllerRevision, int32, error) {
	collisionCount := int32(0)
	if ds.Status.CollisionCount != nil {
		collisionCount = *ds.Status.CollisionCount
	}
	next := int64(1)
	if n := len(revs); n > 0 {
		next = revs[n-1].Revision + 1
	}
	var equal *appsv1.ControllerRevision
	for _, rev := range revs {
		if sameTemplate(rev, &ds.Spec.Template) {
			equal = rev
		}
	}
	if equal != nil {
		if equal == revs[len(revs)-1] {
			return equal, collisionCount, nil
		}
		updated := equal.DeepCopy()
		updated.Revision = next
		stored, err := c.client.AppsV1().ControllerRevisions(ds.Namespace).Update(ctx, updated, metav1.UpdateOptions{})
		if err != nil {
			return nil, collisionCount, fmt.Errorf("daemonset: renumbering revision %s: %w", updated.Name, err)
		}
		return stored, collisionCount, nil
	}
	data, err := revisionData(&ds.Spec.Template)
	if err != nil {
		return nil, collisionCount, err
	}
	for {
		hash := hashRevision(data, &collisionCount)
		labels := map[string]string{}
		for k, v := range ds.Spec.Template.Labels {
			labels[k] = v
		}
		labels[appsv1.DefaultDaemonSetUniqueLabelKey] = hash
		rev := &appsv1.ControllerRevision{
			ObjectMeta: metav1.ObjectMeta{
				Name: ds.Name + "-" + hash, Namespace: ds.Namespace, Labels: labels,
				OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(ds, controllerKind)},
			},
			Data:     runtime.RawExtension{Raw: data},
			Revision: next,
		}
		created, err := c.client.AppsV1().ControllerRevisions(ds.Namespace).Create(ctx, rev, metav1.CreateOptions{})
		if err == nil {
			return created, collisionCount, nil
		}
		if !apierrors.IsAlreadyExists(err) {
			return nil, collisionCount, fmt.Errorf("daemonset: creating revision %s: %w", rev.Name, err)
		}
		existing, getErr := c.client.AppsV1().ControllerRevisions(ds.Namespace).Get(ctx, rev.Name, metav1.GetOptions{})
		if getErr != nil {
			return nil, collisionCount, fmt.Errorf("daemonset: reading revision %s: %w", rev.Name, getErr)
		}
		if metav1.IsControlledBy(existing, ds) && sameTemplate(existing, &ds.Spec.Template) {
			// Ours, not yet in the cache.
			return existing, collisionCount, nil
		}
		collisionCount++
	}
}

// revisionHash is the hash a revision's pods carry.
func revisionHash(rev *appsv1.ControllerRevision) string {
	if h := rev.Labels[appsv1.DefaultDaemonSetUniqueLabelKey]; h != "" {
		return h
	}
	return rev.Name
}

// truncateHistory deletes the oldest revisions beyond
// revisionHistoryLimit that are neither current nor used by a pod.
func (c *Controller) truncateHistory(ctx context.Context, ds *appsv1.DaemonSet, pods []*corev1.Pod, revs []*appsv1.ControllerRevision, current *appsv1.ControllerRevision) error {
	live := sets.New(current.Name)
	used := sets.New[string]()
	for _, pod := range pods {
		used.Insert(pod.Labels[appsv1.DefaultDaemonSetUniqueLabelKey])
	}
	var history []*appsv1.ControllerRevision
	for _, rev := range revs {
		if !live.Has(rev.Name) && !used.Has(revisionHash(rev)) {
			history = append(history, rev)
		}
	}
	sort.SliceStable(history, func(i, j int) bool { return history[i].Revision < history[j].Revision })
	limit := 10
	if ds.Spec.RevisionHistoryLimit != nil {
		limit = int(*ds.Spec.RevisionHistoryLimit)
	}
	for i := 0; i < len(history)-limit; i++ {
		err := c.client.AppsV1().ControllerRevisions(ds.Namespace).Delete(ctx, history[i].Name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("daemonset: deleting old revision %s: %w", history[i].Name, err)
		}
	}
	return nil
}
