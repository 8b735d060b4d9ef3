package job

import (
	"sort"
	"strconv"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/navarch/navarch/internal/controller"
)

// completionIndexEnv is the variable through which an Indexed Job's
// containers learn their index.
const completionIndexEnv = "JOB_COMPLETION_INDEX"

// interval is a run of consecutive indexes, both ends included.
type interval struct{ first, last int }

// indexSet is a set of completion indexes as sorted, disjoint, non-adjacent
// intervals: the form of status.completedIndexes ("1,3-5,7").
type indexSet []interval

// parseIndexSet reads a completedIndexes string, dropping indexes at or
// beyond completions and anything malformed.
func parseIndexSet(s string, completions int) indexSet {
	var ixs []int
	for _, part := range strings.Split(s, ",") {
		if part == "" {
			continue
		}
		lo, hi, isRange := strings.Cut(part, "-")
		first, err := strconv.Atoi(lo)
		if err != nil {
			continue
		}
		last := first
		if isRange {
			if last, err = strconv.Atoi(hi); err != nil {
				continue
			}
		}
		for ix := max(first, 0); ix <= last && ix < completions; ix++ {
			ixs = append(ixs, ix)
		}
	}
	return indexSet(nil).with(ixs)
}

// with returns the set plus ixs.
func (s indexSet) with(ixs []int) indexSet {
	all := make([]int, 0, s.total()+len(ixs))
	for _, iv := range s {
		for ix := iv.first; ix <= iv.last; ix++ {
			all = append(all, ix)
		}
	}
	all = append(all, ixs...)
	sort.Ints(all)
	var out indexSet
	for _, ix := range all {
		if n := len(out); n > 0 && ix <= out[n-1].last+1 {
			out[n-1].last = max(out[n-1].last, ix)
			continue
		}
		out = append(out, interval{ix, ix})
	}
	return out
}

func (s indexSet) has(ix int) bool {
	i := sort.Search(len(s), func(i int) bool { return s[i].last >= ix })
	return i < len(s) && s[i].first <= ix
}

func (s indexSet) total() int {
	n := 0
	for _, iv := range s {
		n += iv.last - iv.first + 1
	}
	return n
}

// String renders the set as status.completedIndexes does.
func (s indexSet) String() string {
	var b strings.Builder
	for i, iv := range s {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(iv.first))
		if iv.last > iv.first {
			b.WriteByte('-')
			b.WriteString(strconv.Itoa(iv.last))
		}
	}
	return b.String()
}

// succeededIndexes returns the indexes the status records as done, and
// those plus the indexes of succeeded pods not yet counted.
func succeededIndexes(job *batchv1.Job, pods []*corev1.Pod) (prev, all indexSet) {
	completions := int(*job.Spec.Completions)
	prev = parseIndexSet(job.Status.CompletedIndexes, completions)
	var ixs []int
	for _, pod := range pods {
		ix := completionIndex(pod)
		if pod.Status.Phase == corev1.PodSucceeded && ix >= 0 && ix < completions && hasTrackingFinalizer(pod) {
			ixs = append(ixs, ix)
		}
	}
	return prev, prev.with(ixs)
}

// firstPendingIndexes returns up to count of the lowest indexes that are
// neither done nor being run by an active pod.
func firstPendingIndexes(st *syncState, count int) []int {
	busy := map[int]bool{}
	for _, pod := range controller.FilterActivePods(st.pods) {
		busy[completionIndex(pod)] = true
	}
	var out []int
	for ix := 0; ix < int(*st.job.Spec.Completions) && len(out) < count; ix++ {
		if !busy[ix] && !st.succeededIndexes.has(ix) {
			out = append(out, ix)
		}
	}
	return out
}

// setCompletionIndex labels and annotates a pod template with its index.
func setCompletionIndex(template *corev1.PodTemplateSpec, ix int) {
	value := strconv.Itoa(ix)
	if template.Annotations == nil {
		template.Annotations = map[string]string{}
	}
	template.Annotations[batchv1.JobCompletionIndexAnnotation] = value
	if template.Labels == nil {
		template.Labels = map[string]string{}
	}
	template.Labels[batchv1.JobCompletionIndexAnnotation] = value
}

// addCompletionIndexEnv gives every container JOB_COMPLETION_INDEX, read
// from the pod's index annotation, unless it sets it itself.
func addCompletionIndexEnv(template *corev1.PodTemplateSpec) {
	add := func(containers []corev1.Container) {
		for i := range containers {
			c := &containers[i]
			found := false
			for _, env := range c.Env {
				if env.Name == completionIndexEnv {
					found = true
					break
				}
			}
			if found {
				continue
			}
			c.Env = append(c.Env, corev1.EnvVar{
				Name: completionIndexEnv,
				ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{
					FieldPath: "metadata.annotations['" + batchv1.JobCompletionIndexAnnotation + "']",
				}},
			})
		}
	}
	add(template.Spec.InitContainers)
	add(template.Spec.Containers)
}
