package statefulset

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

// revisionTemplate decodes the pod template a revision stores.
func revisionTemplate(rev *appsv1.ControllerRevision) (*corev1.PodTemplateSpec, error) {
	var data struct {
		Spec struct {
			Template corev1.PodTemplateSpec `json:"template"`
		} `json:"spec"`
	}
	if err := json.Unmarshal(rev.Data.Raw, &data); err != nil {
		return nil, fmt.Errorf("statefulset: decoding revision %s: %w", rev.Name, err)
	}
	return &data.Spec.Template, nil
}

// hashRevision hashes revision data, salted with the collision count, as
// upstream names revisions: FNV-32 in the letters rand.SafeEncodeString
// uses.
func hashRevision(data []byte, collisionCount *int32) string {
	h := fnv.New32()
	h.Write(data)
	if collisionCount != nil {
		h.Write([]byte(strconv.FormatInt(int64(*collisionCount), 10)))
	}
	return rand.SafeEncodeString(fmt.Sprint(h.Sum32()))
}

// revisionName is "<set>-<hash>", the set's name cut so the whole fits a
// name.
func revisionName(set string, hash string) string {
	if len(set) > 223 {
		set = set[:223]
	}
	return set + "-" + hash
}

// sameTemplate reports whether a revision stores template.
func sameTemplate(rev *appsv1.ControllerRevision, template *corev1.PodTemplateSpec) bool {
	stored, err := revisionTemplate(rev)
	return err == nil && apiequality.Semantic.DeepEqual(stored, template)
}

// resolveRevisions resolves the set's current and update revisions, creating or
// renumbering the update revision as needed. revs are the set's
// revisions sorted by number; it returns them updated, with the
// collision count to record.
func (c *Controller) resolveRevisions(ctx context.Context, set *appsv1.StatefulSet, revs []*appsv1.ControllerRevision) (current, update *appsv1.ControllerRevision, all []*appsv1.ControllerRevision, collisionCount int32, err error) {
	collisionCount = ptrDeref(set.Status.CollisionCount)
	next := int64(1)
	if n := len(revs); n > 0 {
		next = revs[n-1].Revision + 1
	}
	var equal []*appsv1.ControllerRevision
	for _, rev := range revs {
		if sameTemplate(rev, &set.Spec.Template) {
			equal = append(equal, rev)
		}
	}
	switch {
	case len(equal) > 0 && equal[len(equal)-1] == revs[len(revs)-1]:
		// The newest revision is the template: nothing changed.
		update = equal[len(equal)-1]
	case len(equal) > 0:
		// Back to an earlier template: that revision becomes the newest.
		rev := equal[len(equal)-1].DeepCopy()
		rev.Revision = next
		if update, err = c.client.AppsV1().ControllerRevisions(set.Namespace).Update(ctx, rev, metav1.UpdateOptions{}); err != nil {
			return nil, nil, nil, collisionCount, fmt.Errorf("statefulset: renumbering revision %s: %w", rev.Name, err)
		}
		for i := range revs {
			if revs[i].Name == update.Name {
				revs[i] = update
			}
		}
		sort.SliceStable(revs, func(i, j int) bool { return revs[i].Revision < revs[j].Revision })
	default:
		if update, collisionCount, err = c.createRevision(ctx, set, next, collisionCount); err != nil {
			return nil, nil, nil, collisionCount, err
		}
		revs = append(revs, update)
	}
	for _, rev := range revs {
		if rev.Name == set.Status.CurrentRevision {
			current = rev
		}
	}
	if current == nil {
		current = update
	}
	return current, update, revs, collisionCount, nil
}

// createRevision stores the set's template as revision number, probing
// names past hash collisions (a different revision already has the
// name), which raise collisionCount.
func (c *Controller) createRevision(ctx context.Context, set *appsv1.StatefulSet, number int64, collisionCount int32) (*appsv1.ControllerRevision, int32, error) {
	data, err := revisionData(&set.Spec.Template)
	if err != nil {
		return nil, collisionCount, err
	}
	labels := map[string]string{}
	for k, v := range set.Spec.Template.Labels {
		labels[k] = v
	}
	for {
		hash := hashRevision(data, &collisionCount)
		labels[appsv1.ControllerRevisionHashLabelKey] = hash
		rev := &appsv1.ControllerRevision{
			ObjectMeta: metav1.ObjectMeta{
				Name:            revisionName(set.Name, hash),
				Namespace:       set.Namespace,
				Labels:          labels,
				OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(set, controllerKind)},
			},
			Data:     runtime.RawExtension{Raw: data},
			Revision: number,
		}
		created, err := c.client.AppsV1().ControllerRevisions(set.Namespace).Create(ctx, rev, metav1.CreateOptions{})
		if err == nil {
			return created, collisionCount, nil
		}
		if !apierrors.IsAlreadyExists(err) {
			return nil, collisionCount, fmt.Errorf("statefulset: creating revision %s: %w", rev.Name, err)
		}
		existing, getErr := c.client.AppsV1().ControllerRevisions(set.Namespace).Get(ctx, rev.Name, metav1.GetOptions{})
		if getErr != nil {
			return nil, collisionCount, fmt.Errorf("statefulset: reading revision %s: %w", rev.Name, getErr)
		}
		if metav1.IsControlledBy(existing, set) && sameTemplate(existing, &set.Spec.Template) {
			// Ours, missed by the cache: renumber it.
			if existing.Revision != number {
				existing = existing.DeepCopy()
				existing.Revision = number
				if existing, err = c.client.AppsV1().ControllerRevisions(set.Namespace).Update(ctx, existing, metav1.UpdateOptions{}); err != nil {
					return nil, collisionCount, fmt.Errorf("statefulset: renumbering revision %s: %w", rev.Name, err)
				}
			}
			return existing, collisionCount, nil
		}
		collisionCount++
	}
}

// truncateHistory deletes the oldest revisions beyond
// revisionHistoryLimit that neither the pods nor the status use.
func (c *Controller) truncateHistory(ctx context.Context, set *appsv1.StatefulSet, pods []*corev1.Pod, revs []*appsv1.ControllerRevision, current, update *appsv1.ControllerRevision) error {
	live := sets.New(current.Name, update.Name)
	for _, pod := range pods {
		live.Insert(pod.Labels[appsv1.StatefulSetRevisionLabel])
	}
	var history []*appsv1.ControllerRevision
	for _, rev := range revs {
		if !live.Has(rev.Name) {
			history = append(history, rev)
		}
	}
	limit := 10
	if set.Spec.RevisionHistoryLimit != nil {
		limit = int(*set.Spec.RevisionHistoryLimit)
	}
	for i := 0; i < len(history)-limit; i++ {
		err := c.client.AppsV1().ControllerRevisions(set.Namespace).Delete(ctx, history[i].Name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("statefulset: deleting old revision %s: %w", history[i].Name, err)
		}
	}
	return nil
}

func ptrDeref(p *int32) int32 {
	if p == nil {
		return 0
	}
	return *p
}
