package nodelifecycle

import (
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	testingclock "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
)

// t0 is the start of every test's fake clock.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

type fixture struct {
	controller *Controller
	client     *fake.Clientset
	clock      *testingclock.FakeClock
	recorder   *record.FakeRecorder
	nodes      cache.Indexer
	leases     cache.Indexer
	pods       cache.Indexer
}

func newFixture(t *testing.T, nodes []*corev1.Node, leases []*coordinationv1.Lease, pods []*corev1.Pod) *fixture {
	t.Helper()
	var objects []runtime.Object
	for _, n := range nodes {
		objects = append(objects, n)
	}
	for _, p := range pods {
		objects = append(objects, p)
	}
	client := fake.NewClientset(objects...)
	factory := informers.NewSharedInformerFactory(client, 0)
	nodeInformer, leaseInformer, podInformer := factory.Core().V1().Nodes(), factory.Coordination().V1().Leases(), factory.Core().V1().Pods()
	clock := testingclock.NewFakeClock(t0)
	c := New(client, nodeInformer, leaseInformer, podInformer, Config{
		MonitorPeriod: time.Second, GracePeriod: 40 * time.Second, StartupGracePeriod: 60 * time.Second, Clock: clock,
	})
	recorder := record.NewFakeRecorder(20)
	c.recorder = recorder
	f := &fixture{
		controller: c, client: client, clock: clock, recorder: recorder,
		nodes: nodeInformer.Informer().GetIndexer(), leases: leaseInformer.Informer().GetIndexer(), pods: podInformer.Informer().GetIndexer(),
	}
	for _, n := range nodes {
		f.put(t, f.nodes, n)
	}
	for _, l := range leases {
		f.put(t, f.leases, l)
	}
	for _, p := range pods {
		f.put(t, f.pods, p)
	}
	client.ClearActions()
	return f
}

// put adds or replaces an object in a cache.
func (f *fixture) put(t *testing.T, indexer cache.Indexer, obj interface{}) {
	t.Helper()
	if err := indexer.Update(obj); err != nil {
		t.Fatalf("cache: %v", err)
	}
}

// events drains the recorded events.
func (f *fixture) events() []string {
	var out []string
	for {
		select {
		case e := <-f.recorder.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

func readyNode(name string, heartbeat time.Time) *corev1.Node {
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID("uid-" + name), CreationTimestamp: metav1.NewTime(t0.Add(-time.Hour))},
		Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{
			{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", LastHeartbeatTime: metav1.NewTime(heartbeat), LastTransitionTime: metav1.NewTime(t0.Add(-time.Hour))},
			{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse, LastHeartbeatTime: metav1.NewTime(heartbeat)},
		}},
	}
}

func lease(node string, renew time.Time) *coordinationv1.Lease {
	return &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: node, Namespace: corev1.NamespaceNodeLease},
		Spec:       coordinationv1.LeaseSpec{HolderIdentity: ptr.To(node), RenewTime: &metav1.MicroTime{Time: renew}},
	}
}

func podOn(name, node string, tolerations ...corev1.Toleration) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID("uid-" + name)},
		Spec:       corev1.PodSpec{NodeName: node, Tolerations: tolerations},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{
			{Type: corev1.PodReady, Status: corev1.ConditionTrue},
		}},
	}
}

func tolerate(key string, seconds *int64) corev1.Toleration {
	return corev1.Toleration{Key: key, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: seconds}
}

func noExecute(key string, added *time.Time) corev1.Taint {
	t := corev1.Taint{Key: key, Effect: corev1.TaintEffectNoExecute}
	if added != nil {
		t.TimeAdded = &metav1.Time{Time: *added}
	}
	return t
}
