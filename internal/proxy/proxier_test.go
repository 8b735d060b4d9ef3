package proxy

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/klog/v2/ktesting"
	"k8s.io/utils/ptr"
)

// recordingNFT is a fake NFT for tests of the sync loop: it records the
// scripts, fails the next Apply on demand and lists what it is told to.
// It does not interpret scripts; TestDataPath and the convergence tests
// run the same scripts on the real nft.
type recordingNFT struct {
	mu      sync.Mutex
	scripts []string
	failOne bool
	objs    *TableObjects
}

func (f *recordingNFT) Apply(_ context.Context, s string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failOne {
		f.failOne = false
		return errors.New("injected failure")
	}
	f.scripts = append(f.scripts, s)
	return nil
}

func (f *recordingNFT) Objects(context.Context, string) (*TableObjects, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.objs != nil {
		return f.objs, nil
	}
	return &TableObjects{Chains: map[string]string{}, Sets: map[string]string{}}, nil
}

func (f *recordingNFT) last() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.scripts) == 0 {
		return ""
	}
	return f.scripts[len(f.scripts)-1]
}

func webService(name, vip string) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, ClusterIP: vip, ClusterIPs: []string{vip},
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP}}},
	}
}

// runProxier starts a proxier on client with nft; reports arrive on the
// returned channel.
func runProxier(t *testing.T, client *fake.Clientset, nft NFT, cfg Config) (*Proxier, <-chan syncReport) {
	t.Helper()
	_, ctx := ktesting.NewTestContext(t)
	ctx, cancel := context.WithCancel(ctx)
	factory := informers.NewSharedInformerFactory(client, 0)
	if cfg.MinSyncInterval == 0 {
		cfg.MinSyncInterval = 5 * time.Millisecond
	}
	if cfg.RetryInterval == 0 {
		cfg.RetryInterval = 10 * time.Millisecond
	}
	p := New(cfg, factory, nft)
	reports := make(chan syncReport, 10000)
	p.afterSync = func(r syncReport) { reports <- r }
	factory.Start(ctx.Done())
	done := make(chan error, 1)
	go func() { done <- p.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("proxier: %v", err)
		}
		factory.Shutdown()
	})
	return p, reports
}

// nextReport waits for a sync report that satisfies ok.
func nextReport(t *testing.T, reports <-chan syncReport, what string, ok func(syncReport) bool) syncReport {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case r := <-reports:
			if ok(r) {
				return r
			}
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func TestProxierSyncsOnlyWhatChanged(t *testing.T) {
	var objs []runtime.Object
	for i := 0; i < 5; i++ {
		name := fmt.Sprintf("s%d", i)
		objs = append(objs, webService(name, fmt.Sprintf("10.43.0.%d", i+1)), slice(name+"-1", name, endpoint(fmt.Sprintf("10.42.0.%d", i+1), testNode)))
	}
	client := fake.NewSimpleClientset(objs...)
	nft := &recordingNFT{}
	_, reports := runProxier(t, client, nft, Config{NodeName: testNode, Table: "t"})
	nextReport(t, reports, "the first, full sync", func(r syncReport) bool { return r.full })
	if s := nft.last(); !strings.Contains(s, "default-s4") || strings.Contains(s, "delete table") {
		t.Fatalf("first sync should rewrite the table in place with every service:\n%s", s)
	}

	ctx := context.Background()
	changed := slice("s2-1", "s2", endpoint("10.42.0.99", testNode))
	if _, err := client.DiscoveryV1().EndpointSlices("default").Update(ctx, changed, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	r := nextReport(t, reports, "a partial sync of s2", func(r syncReport) bool { return !r.full })
	if r.services == nil || len(r.services) != 1 || r.services[0] != "default/s2" {
		t.Errorf("partial sync rewrote %v, want [default/s2]", r.services)
	}
	s := nft.last()
	if !strings.Contains(s, "dnat to 10.42.0.99:8080") || !strings.Contains(s, "delete chain ip t ep-default-s2-http-tcp-10-42-0-3") {
		t.Errorf("delta misses the endpoint change:\n%s", s)
	}
	for i := range 5 {
		if i != 2 && strings.Contains(s, fmt.Sprintf("default-s%d-", i)) {
			t.Errorf("delta touches s%d:\n%s", i, s)
		}
	}

	// Deleting the service removes its rules.
	if err := client.CoreV1().Services("default").Delete(ctx, "s2", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	nextReport(t, reports, "the deletion", func(r syncReport) bool { return !r.full })
	if s := nft.last(); !strings.Contains(s, "delete element ip t service-ips { 10.43.0.3 . tcp . 80 }") {
		t.Errorf("deleting a service did not remove its entry:\n%s", s)
	}
}

func TestProxierRecoversWithFullSync(t *testing.T) {
	client := fake.NewSimpleClientset(webService("web", "10.43.0.1"), slice("web-1", "web", endpoint("10.42.0.1", testNode)))
	nft := &recordingNFT{}
	_, reports := runProxier(t, client, nft, Config{NodeName: testNode, Table: "t"})
	nextReport(t, reports, "the first sync", func(r syncReport) bool { return r.full })

	nft.mu.Lock()
	nft.failOne = true
	nft.mu.Unlock()
	changed := slice("web-1", "web", endpoint("10.42.0.2", testNode))
	if _, err := client.DiscoveryV1().EndpointSlices("default").Update(context.Background(), changed, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	nextReport(t, reports, "a full sync after the failed partial one", func(r syncReport) bool { return r.full })
	if s := nft.last(); !strings.Contains(s, "dnat to 10.42.0.2:8080") || strings.Contains(s, "10.42.0.1:") {
		t.Errorf("the full sync after a failure does not hold the latest state:\n%s", s)
	}
}

func TestProxierReplacesForeignLayout(t *testing.T) {
	client := fake.NewSimpleClientset(webService("web", "10.43.0.1"))
	// An older layout had a set where a map now is.
	nft := &recordingNFT{objs: &TableObjects{Exists: true,
		Chains: map[string]string{"services": ""},
		Sets:   map[string]string{mapNoEndpointNodePorts: "set inet_proto . inet_service"}}}
	_, reports := runProxier(t, client, nft, Config{Table: "t"})
	nextReport(t, reports, "the first sync", func(r syncReport) bool { return r.full })
	if s := nft.last(); !strings.HasPrefix(s, "add table ip t\ndelete table ip t\n") {
		t.Errorf("a table in another layout should be replaced; got:\n%s", s)
	}
}

// TestProxierFloodConverges sends 1,000 Service and EndpointSlice
// changes as fast as the API takes them, from four writers, to a proxier
// programming the real nft, and checks the kernel ends up holding exactly
// the full render of the final state: coalesced partial syncs never leave
// a stale rule behind.
func TestProxierFloodConverges(t *testing.T) {
	needNft(t)
	const services, changes, writers = 40, 1000, 4
	var objs []runtime.Object
	for i := 0; i < services; i++ {
		name := fmt.Sprintf("f%02d", i)
		objs = append(objs, webService(name, fmt.Sprintf("10.43.9.%d", i+1)), slice(name+"-1", name, endpoint(fmt.Sprintf("10.42.9.%d", i+1), testNode)))
	}
	client := fake.NewSimpleClientset(objs...)
	inc, whole := scratchTable(t, "flood"), scratchTable(t, "floodwhole")
	_, reports := runProxier(t, client, NftCommand{}, Config{NodeName: testNode, Table: inc, MinSyncInterval: 20 * time.Millisecond})
	nextReport(t, reports, "the first sync", func(r syncReport) bool { return r.full })

	ctx := context.Background()
	// The fake clientset replays nothing to a watch that starts late: a
	// write made before the informers' watches are open would never
	// reach the proxier. One change seen through a partial sync proves
	// they are open (a real API server replays from the resourceVersion).
	seen := false
	for attempt := 0; attempt < 20 && !seen; attempt++ {
		if _, err := client.DiscoveryV1().EndpointSlices("default").Update(ctx,
			slice("f00-1", "f00", endpoint(fmt.Sprintf("10.42.9.%d", 200+attempt), testNode)), metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		timeout := time.After(time.Second)
		for !seen {
			select {
			case r := <-reports:
				seen = !r.full && slices.Contains(r.services, "default/f00")
				continue
			case <-timeout:
			}
			break
		}
	}
	if !seen {
		t.Fatal("no change reached the proxier through the fake clientset's watches")
	}

	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			rng := rand.New(rand.NewSource(int64(w)))
			for n := 0; n < changes/writers; n++ {
				i := w + writers*rng.Intn(services/writers) // each writer owns its services
				name := fmt.Sprintf("f%02d", i)
				var err error
				if rng.Intn(3) == 0 {
					svc := webService(name, fmt.Sprintf("10.43.9.%d", i+1))
					if rng.Intn(2) == 0 {
						svc.Spec.Type = corev1.ServiceTypeNodePort
						svc.Spec.Ports[0].NodePort = int32(31000 + i)
						svc.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
					}
					if rng.Intn(2) == 0 {
						svc.Spec.SessionAffinity = corev1.ServiceAffinityClientIP
						svc.Spec.SessionAffinityConfig = &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: ptr.To(int32(30 + rng.Intn(3)))}}
					}
					_, err = client.CoreV1().Services("default").Update(ctx, svc, metav1.UpdateOptions{})
				} else {
					var eps []discoveryv1.Endpoint
					for e, n := 0, rng.Intn(4); e < n; e++ {
						node := testNode
						if rng.Intn(2) == 0 {
							node = "other"
						}
						ep := endpoint(fmt.Sprintf("10.42.%d.%d", 10+i, rng.Intn(250)+1), node)
						ep.Conditions.Ready = ptr.To(rng.Intn(5) != 0)
						eps = append(eps, ep)
					}
					_, err = client.DiscoveryV1().EndpointSlices("default").Update(ctx, slice(name+"-1", name, eps...), metav1.UpdateOptions{})
				}
				if err != nil {
					errs <- err
					return
				}
				// The fake clientset's watch channel holds 100 events and
				// panics when full: pace the writers to ~4,000 changes/s.
				time.Sleep(time.Millisecond)
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	// The final state, rendered whole from what the API holds.
	svcList, _ := client.CoreV1().Services("default").List(ctx, metav1.ListOptions{})
	sliceList, _ := client.DiscoveryV1().EndpointSlices("default").List(ctx, metav1.ListOptions{})
	var ports []ServicePort
	for i := range svcList.Items {
		svc := &svcList.Items[i]
		var own []*discoveryv1.EndpointSlice
		for j := range sliceList.Items {
			if sliceList.Items[j].Labels[discoveryv1.LabelServiceName] == svc.Name {
				own = append(own, &sliceList.Items[j])
			}
		}
		ports = append(ports, BuildServicePorts(svc, own, testNode)...)
	}
	apply(t, replaceScript(whole, rulesetFor(ports)))
	want := listTable(t, whole)
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := listTable(t, inc)
		d := diffTables(want, got)
		if d == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %d changes the table did not converge to the final state (-want +got):\n%s", changes, d)
		}
		time.Sleep(200 * time.Millisecond)
	}
	var partial, full int
	for len(reports) > 0 {
		if r := <-reports; r.full {
			full++
		} else {
			partial++
		}
	}
	t.Logf("%d changes converged in %d partial and %d full syncs after the first", changes, partial, full)
}
