package simnode

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{name: "defaults", cfg: Config{Count: 1000}},
		{name: "no nodes", cfg: Config{}, wantErr: "at least one node"},
		{name: "too many pods per node", cfg: Config{Count: 1, Pods: 300}, wantErr: "between 1 and 253"},
		{name: "pod CIDR smaller than a /24", cfg: Config{Count: 1, PodCIDR: "10.0.0.0/25"}, wantErr: "pod CIDR"},
		{name: "pod CIDR too small for the nodes", cfg: Config{Count: 300, PodCIDR: "10.0.0.0/16"}, wantErr: "holds 256 /24s, not 300"},
		{name: "IPv6 pod CIDR", cfg: Config{Count: 1, PodCIDR: "fd00::/64"}, wantErr: "pod CIDR"},
		{name: "node CIDR too small", cfg: Config{Count: 10, NodeCIDR: "10.1.0.0/29"}, wantErr: "too small"},
		{name: "node CIDR just big enough", cfg: Config{Count: 6, NodeCIDR: "10.1.0.0/29"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.cfg.withDefaults().validate()
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("got error %v, want none", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("got error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestAddressing(t *testing.T) {
	addr, err := Config{Count: 1000}.withDefaults().validate()
	if err != nil {
		t.Fatalf("validate: %v", err)
	}
	tests := []struct {
		index              int
		wantSubnet, wantIP string
	}{
		{0, "10.128.0.0/24", "10.127.0.1"},
		{1, "10.128.1.0/24", "10.127.0.2"},
		{255, "10.128.255.0/24", "10.127.1.0"},
		{256, "10.129.0.0/24", "10.127.1.1"},
		{999, "10.131.231.0/24", "10.127.3.232"},
	}
	for _, tc := range tests {
		if got := addr.podSubnet(tc.index).String(); got != tc.wantSubnet {
			t.Errorf("node %d subnet: got %s, want %s", tc.index, got, tc.wantSubnet)
		}
		if got := addr.nodeIP(tc.index).String(); got != tc.wantIP {
			t.Errorf("node %d IP: got %s, want %s", tc.index, got, tc.wantIP)
		}
	}
}

func TestPodIPs(t *testing.T) {
	sim := New(nil, Config{Count: 1})
	ips := sim.nodes[0].ips
	tests := []struct {
		name string
		run  func() string
		want string
	}{
		{name: "first pod gets .2", run: func() string { ip, _ := ips.allocate("a"); return ip }, want: "10.128.0.2"},
		{name: "same pod, same address", run: func() string { ip, _ := ips.allocate("a"); return ip }, want: "10.128.0.2"},
		{name: "next pod gets .3", run: func() string { ip, _ := ips.allocate("b"); return ip }, want: "10.128.0.3"},
		{name: "a restarted pod keeps .7", run: func() string {
			if !ips.reserve("c", "10.128.0.7") {
				return "refused"
			}
			ip, _ := ips.allocate("c")
			return ip
		}, want: "10.128.0.7"},
		{name: "an address held by another pod is refused", run: func() string {
			if ips.reserve("d", "10.128.0.7") {
				return "accepted"
			}
			return "refused"
		}, want: "refused"},
		{name: "an address outside the subnet is refused", run: func() string {
			if ips.reserve("d", "10.128.1.7") {
				return "accepted"
			}
			return "refused"
		}, want: "refused"},
		{name: "a released address is handed out again", run: func() string {
			ips.release("a")
			ip, _ := ips.allocate("e")
			return ip
		}, want: "10.128.0.2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.run(); got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}

func TestPodIPsExhausted(t *testing.T) {
	ips := New(nil, Config{Count: 1}).nodes[0].ips
	for i := 0; i < lastPodHost-firstPodHost+1; i++ {
		if _, err := ips.allocate(types.UID(strings.Repeat("x", i+1))); err != nil {
			t.Fatalf("allocation %d: %v", i, err)
		}
	}
	if ip, err := ips.allocate("one-too-many"); err == nil {
		t.Errorf("got %s, want an error once the /24 is full", ip)
	}
}

func TestRunningStatus(t *testing.T) {
	now := metav1.NewTime(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	earlier := metav1.NewTime(now.Add(-time.Minute))
	always := corev1.ContainerRestartPolicyAlways
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default", UID: "uid-1", Generation: 3},
		Spec: corev1.PodSpec{
			NodeName: "simnode-0",
			InitContainers: []corev1.Container{
				{Name: "setup", Image: "busybox"},
				{Name: "proxy", Image: "envoy", RestartPolicy: &always},
			},
			Containers: []corev1.Container{{Name: "web", Image: "nginx"}, {Name: "log", Image: "fluentd"}},
		},
		Status: corev1.PodStatus{
			Phase:    corev1.PodPending,
			QOSClass: corev1.PodQOSBestEffort,
			Conditions: []corev1.PodCondition{
				{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: earlier},
			},
		},
	}
	st := runningStatus(pod, "10.127.0.1", "10.128.0.2", now)

	type summary struct {
		Phase                       corev1.PodPhase
		HostIP, PodIP               string
		HostIPs, PodIPs             int
		QOS                         corev1.PodQOSClass
		Generation                  int64
		Start                       time.Time
		Conditions                  []string
		Containers, InitContainers  []string
		ScheduledTransitionKeptFrom time.Time
	}
	got := summary{
		Phase: st.Phase, HostIP: st.HostIP, PodIP: st.PodIP, HostIPs: len(st.HostIPs), PodIPs: len(st.PodIPs),
		QOS: st.QOSClass, Generation: st.ObservedGeneration, Start: st.StartTime.Time,
	}
	for _, c := range st.Conditions {
		got.Conditions = append(got.Conditions, string(c.Type)+"="+string(c.Status))
		if c.Type == corev1.PodScheduled {
			got.ScheduledTransitionKeptFrom = c.LastTransitionTime.Time
		}
	}
	describe := func(cs corev1.ContainerStatus) string {
		state := "waiting"
		switch {
		case cs.State.Running != nil:
			state = "running"
		case cs.State.Terminated != nil:
			state = "terminated:" + cs.State.Terminated.Reason
		}
		started := cs.Started != nil && *cs.Started
		return cs.Name + " " + state + " ready=" + strconv.FormatBool(cs.Ready) + " started=" + strconv.FormatBool(started) +
			" restarts=" + strconv.Itoa(int(cs.RestartCount)) + " id=" + cs.ContainerID[:len("containerd://")]
	}
	for _, cs := range st.ContainerStatuses {
		got.Containers = append(got.Containers, describe(cs))
	}
	for _, cs := range st.InitContainerStatuses {
		got.InitContainers = append(got.InitContainers, describe(cs))
	}
	want := summary{
		Phase: corev1.PodRunning, HostIP: "10.127.0.1", PodIP: "10.128.0.2", HostIPs: 1, PodIPs: 1,
		QOS: corev1.PodQOSBestEffort, Generation: 3, Start: now.Time,
		Conditions: []string{"PodScheduled=True", "PodReadyToStartContainers=True", "Initialized=True", "Ready=True", "ContainersReady=True"},
		Containers: []string{
			"web running ready=true started=true restarts=0 id=containerd://",
			"log running ready=true started=true restarts=0 id=containerd://",
		},
		InitContainers: []string{
			"setup terminated:Completed ready=true started=false restarts=0 id=containerd://",
			"proxy running ready=true started=true restarts=0 id=containerd://",
		},
		ScheduledTransitionKeptFrom: earlier.Time,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("status (-want +got):\n%s", diff)
	}
	running := pod.DeepCopy()
	running.Status = st
	if !isRunning(running) {
		t.Errorf("isRunning(running pod) = false, want true")
	}
	if isRunning(pod) {
		t.Errorf("isRunning(pending pod) = true, want false")
	}
}

func TestRunningStatusReadinessGates(t *testing.T) {
	pod := &corev1.Pod{
		Spec: corev1.PodSpec{
			Containers:     []corev1.Container{{Name: "c", Image: "i"}},
			ReadinessGates: []corev1.PodReadinessGate{{ConditionType: "example.com/lb-ready"}},
		},
	}
	tests := []struct {
		name      string
		gate      *corev1.PodCondition
		wantReady corev1.ConditionStatus
	}{
		{name: "gate condition missing", wantReady: corev1.ConditionFalse},
		{name: "gate condition false", gate: &corev1.PodCondition{Type: "example.com/lb-ready", Status: corev1.ConditionFalse}, wantReady: corev1.ConditionFalse},
		{name: "gate condition true", gate: &corev1.PodCondition{Type: "example.com/lb-ready", Status: corev1.ConditionTrue}, wantReady: corev1.ConditionTrue},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := pod.DeepCopy()
			if tc.gate != nil {
				p.Status.Conditions = append(p.Status.Conditions, *tc.gate)
			}
			st := runningStatus(p, "10.127.0.1", "10.128.0.2", metav1.Now())
			for _, c := range st.Conditions {
				if c.Type == corev1.PodReady && c.Status != tc.wantReady {
					t.Errorf("Ready: got %s, want %s", c.Status, tc.wantReady)
				}
			}
			p.Status = st
			if !isRunning(p) {
				t.Errorf("isRunning after runningStatus = false, want true (nothing more to write)")
			}
		})
	}
}

func TestMergeConditions(t *testing.T) {
	t0, t1 := metav1.NewTime(time.Unix(100, 0)), metav1.NewTime(time.Unix(200, 0))
	old := []corev1.NodeCondition{
		{Type: corev1.NodeReady, Status: corev1.ConditionUnknown, LastTransitionTime: t0},
		{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse, LastTransitionTime: t0},
		{Type: corev1.NodeNetworkUnavailable, Status: corev1.ConditionFalse, LastTransitionTime: t0},
	}
	got := mergeConditions(old, nodeConditions(t1))
	want := map[corev1.NodeConditionType]string{
		corev1.NodeReady:              "True@200",
		corev1.NodeMemoryPressure:     "False@100",
		corev1.NodeDiskPressure:       "False@200",
		corev1.NodePIDPressure:        "False@200",
		corev1.NodeNetworkUnavailable: "False@100",
	}
	gotMap := map[corev1.NodeConditionType]string{}
	for _, c := range got {
		gotMap[c.Type] = string(c.Status) + "@" + strconv.FormatInt(c.LastTransitionTime.Unix(), 10)
	}
	if diff := cmp.Diff(want, gotMap); diff != "" {
		t.Errorf("conditions (-want +got):\n%s", diff)
	}
}
