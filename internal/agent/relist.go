package agent

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/types"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/klog/v2"

	"github.com/navarch/navarch/internal/agent/cri"
)

// relistInterval is how often the runtime is listed to notice container
// exits and sandbox deaths (the kubelet's PLEG relists every second too).
const relistInterval = time.Second

// relister notices changes in the runtime and wakes the pods they
// concern, including pods the API no longer has (so their workers clean
// them up).
type relister struct {
	runtime cri.Runtime
	wake    func(types.UID)
	// last is the fingerprint of each pod's runtime state at the last
	// relist; only relist touches it.
	last map[types.UID]string
}

// relist lists the runtime once and wakes every pod whose sandboxes or
// containers changed since the previous relist (all of them the first
// time).
func (r *relister) relist(ctx context.Context) error {
	managed := map[string]string{cri.LabelManagedBy: cri.ManagedByAgent}
	sandboxes, err := r.runtime.ListPodSandbox(ctx, &runtimeapi.PodSandboxFilter{LabelSelector: managed})
	if err != nil {
		return err
	}
	containers, err := r.runtime.ListContainers(ctx, &runtimeapi.ContainerFilter{LabelSelector: managed})
	if err != nil {
		return err
	}
	parts := map[types.UID][]string{}
	for _, sb := range sandboxes {
		uid := types.UID(sb.Labels[cri.LabelPodUID])
		parts[uid] = append(parts[uid], fmt.Sprintf("s:%s:%d", sb.Id, sb.State))
	}
	for _, c := range containers {
		uid := types.UID(c.Labels[cri.LabelPodUID])
		parts[uid] = append(parts[uid], fmt.Sprintf("c:%s:%d", c.Id, c.State))
	}
	current := make(map[types.UID]string, len(parts))
	for uid, p := range parts {
		slices.Sort(p)
		current[uid] = strings.Join(p, ",")
	}
	if r.last == nil {
		r.last = map[types.UID]string{}
	}
	for uid, fp := range current {
		if r.last[uid] != fp {
			r.wake(uid)
		}
	}
	for uid := range r.last {
		if _, ok := current[uid]; !ok {
			r.wake(uid)
		}
	}
	r.last = current
	return nil
}

// run relists every relistInterval until ctx ends.
func (r *relister) run(ctx context.Context) {
	logger := klog.FromContext(ctx)
	ticker := time.NewTicker(relistInterval)
	defer ticker.Stop()
	for {
		if err := r.relist(ctx); err != nil && ctx.Err() == nil {
			logger.Error(err, "relisting the runtime")
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}
