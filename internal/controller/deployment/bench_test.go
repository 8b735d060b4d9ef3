package deployment_test

import (
	"context"
	"fmt"
	"github.com/navarch/navarch/internal/controller/deployment"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/navarch/navarch/test/framework"
)

// BenchmarkRollingUpdate100 measures a rolling update (image change) of a
// 100-replica Deployment with the default 25%/25% strategy, pods turning
// ready as soon as they exist (no node agent: the benchmark plays it).
// One op is one complete rollout; it also reports seconds per rollout.
//
//	go test -run '^$' -bench RollingUpdate100 -benchtime 3x ./internal/controller/deployment
func BenchmarkRollingUpdate100(b *testing.B) {
	tc := startCluster(b)
	ns := tc.namespace(b, "bench")
	tc.markPodsReady(b, ns)
	ctx := context.Background()
	d := deployment.NewDeploymentForTest("web", 100, intstr.FromString("25%"), intstr.FromString("25%"))
	d.ObjectMeta = metav1.ObjectMeta{Name: "web", Namespace: ns}
	d.Spec.ProgressDeadlineSeconds = ptr.To[int32](600)
	if _, err := tc.client.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	complete := func(image string) func() (bool, error) {
		return func() (bool, error) {
			got := tc.deployment(b, ns, "web")
			return got.Spec.Template.Spec.Containers[0].Image == image && got.Status.ObservedGeneration == got.Generation &&
				got.Status.UpdatedReplicas == 100 && got.Status.Replicas == 100 && got.Status.AvailableReplicas == 100, nil
		}
	}
	framework.WaitFor(b, 5*time.Minute, "initial rollout", complete("nginx:1"))
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		image := fmt.Sprintf("nginx:v%d", i)
		patch := fmt.Sprintf(`{"spec":{"template":{"spec":{"containers":[{"name":"c","image":%q}]}}}}`, image)
		if _, err := tc.client.AppsV1().Deployments(ns).Patch(ctx, "web", "application/strategic-merge-patch+json", []byte(patch), metav1.PatchOptions{}); err != nil {
			b.Fatal(err)
		}
		framework.WaitFor(b, 5*time.Minute, "rollout "+image, complete(image))
	}
	b.ReportMetric(time.Since(start).Seconds()/float64(b.N), "s/rollout")
}
