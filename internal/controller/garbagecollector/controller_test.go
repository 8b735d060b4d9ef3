package garbagecollector

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/kubernetes/fake"
	fakemetadata "k8s.io/client-go/metadata/fake"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"
)

var (
	configMaps = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	nodes      = schema.GroupVersionResource{Version: "v1", Resource: "nodes"}
	pods       = schema.GroupVersionResource{Version: "v1", Resource: "pods"}
)

type objectOption func(*metav1.PartialObjectMetadata)

// object returns the metadata of a ConfigMap (or of kind, when given by
// an option) in namespace ns.
func object(name string, opts ...objectOption) *metav1.PartialObjectMetadata {
	m := &metav1.PartialObjectMetadata{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID("uid-" + name), ResourceVersion: "5"},
	}
	for _, opt := range opts {
		opt(m)
	}
	return m
}

func ownedBy(owner string, block bool) objectOption {
	return func(m *metav1.PartialObjectMetadata) {
		m.OwnerReferences = append(m.OwnerReferences, metav1.OwnerReference{
			APIVersion: "v1", Kind: "ConfigMap", Name: owner, UID: types.UID("uid-" + owner), BlockOwnerDeletion: ptr.To(block),
		})
	}
}

func ownedByNode(node string) objectOption {
	return func(m *metav1.PartialObjectMetadata) {
		m.OwnerReferences = append(m.OwnerReferences, metav1.OwnerReference{APIVersion: "v1", Kind: "Node", Name: node, UID: types.UID("uid-" + node)})
	}
}

func deleting(finalizers ...string) objectOption {
	return func(m *metav1.PartialObjectMetadata) {
		now := metav1.Now()
		m.DeletionTimestamp = &now
		m.Finalizers = append(m.Finalizers, finalizers...)
	}
}

func withUID(uid string) objectOption {
	return func(m *metav1.PartialObjectMetadata) { m.UID = types.UID(uid) }
}

func clusterScoped(m *metav1.PartialObjectMetadata) {
	m.Namespace = ""
	m.Kind = "Node"
}

// fixture is a collector over fake clients. live holds what the API
// server has; cached what the informer caches show (by resource).
type fixture struct {
	gc       *Controller
	metadata *fakemetadata.FakeMetadataClient
}

func newFixture(t *testing.T, live []*metav1.PartialObjectMetadata, cached map[schema.GroupVersionResource][]*metav1.PartialObjectMetadata) *fixture {
	t.Helper()
	var objects []runtime.Object
	for _, m := range live {
		objects = append(objects, m.DeepCopy())
	}
	meta := fakemetadata.NewSimpleMetadataClient(metadataScheme(), objects...)
	gc := New(fake.NewClientset(), meta, Config{})
	gc.kinds = map[schema.GroupVersionKind]kindInfo{
		{Version: "v1", Kind: "ConfigMap"}: {resource: configMaps, namespaced: true},
		{Version: "v1", Kind: "Pod"}:       {resource: pods, namespaced: true},
		{Version: "v1", Kind: "Node"}:      {resource: nodes, namespaced: false},
	}
	for _, gvr := range []schema.GroupVersionResource{configMaps, pods, nodes} {
		m := gc.newMonitor(gvr)
		gc.monitors[gvr] = m
		for _, obj := range cached[gvr] {
			if err := m.informer.GetIndexer().Add(obj); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Keep the cache's event handlers from queueing: tests drive syncs.
	for gc.deleteQueue.Len() > 0 {
		item, _ := gc.deleteQueue.Get()
		gc.deleteQueue.Done(item)
	}
	meta.ClearActions()
	return &fixture{gc: gc, metadata: meta}
}

// metadataScheme lets the fake metadata client store the metadata of
// the kinds the tests use.
func metadataScheme() *runtime.Scheme {
	scheme := fakemetadata.NewTestScheme()
	for _, kind := range []string{"ConfigMap", "Pod", "Node"} {
		scheme.AddKnownTypeWithName(schema.GroupVersionKind{Version: "v1", Kind: kind}, &metav1.PartialObjectMetadata{})
		scheme.AddKnownTypeWithName(schema.GroupVersionKind{Version: "v1", Kind: kind + "List"}, &metav1.PartialObjectMetadataList{})
	}
	return scheme
}

// writes returns the fake API's deletes ("delete NAME POLICY") and
// patches ("patch NAME BODY"), in order.
func (f *fixture) writes(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, action := range f.metadata.Actions() {
		switch a := action.(type) {
		case clienttesting.DeleteAction:
			opts := a.GetDeleteOptions()
			policy := ""
			if opts.PropagationPolicy != nil {
				policy = string(*opts.PropagationPolicy)
			}
			if opts.Preconditions == nil || opts.Preconditions.UID == nil {
				t.Errorf("delete of %s without a UID precondition", a.GetName())
			}
			out = append(out, "delete "+a.GetName()+" "+policy)
		case clienttesting.PatchAction:
			var p map[string]map[string]interface{}
			if err := json.Unmarshal(a.GetPatch(), &p); err != nil {
				t.Fatalf("patch is not JSON: %v", err)
			}
			if p["metadata"]["resourceVersion"] == nil || p["metadata"]["uid"] == nil {
				t.Errorf("patch %s without uid and resourceVersion", a.GetPatch())
			}
			delete(p["metadata"], "resourceVersion")
			delete(p["metadata"], "uid")
			body, _ := json.Marshal(p)
			out = append(out, "patch "+a.GetName()+" "+string(body))
		}
	}
	return out
}

func (f *fixture) queued() []objectRef {
	var out []objectRef
	for f.gc.deleteQueue.Len() > 0 {
		item, _ := f.gc.deleteQueue.Get()
		f.gc.deleteQueue.Done(item)
		out = append(out, item)
	}
	return out
}

func TestAttemptToDelete(t *testing.T) {
	tests := []struct {
		name   string
		item   *metav1.PartialObjectMetadata
		live   []*metav1.PartialObjectMetadata
		cached []*metav1.PartialObjectMetadata
		want   []string
	}{
		{
			name: "owner gone: deleted in the background",
			item: object("child", ownedBy("parent", true)),
			want: []string{"delete child Background"},
		},
		{
			name:   "owner cached: kept",
			item:   object("child", ownedBy("parent", true)),
			cached: []*metav1.PartialObjectMetadata{object("parent")},
		},
		{
			name: "owner not cached yet but live: kept",
			item: object("child", ownedBy("parent", true)),
			live: []*metav1.PartialObjectMetadata{object("parent")},
		},
		{
			name: "owner name reused by a new object: deleted",
			item: object("child", ownedBy("parent", true)),
			live: []*metav1.PartialObjectMetadata{object("parent", withUID("uid-new-parent"))},
			want: []string{"delete child Background"},
		},
		{
			name:   "one owner left: only the dangling reference goes",
			item:   object("child", ownedBy("gone", true), ownedBy("parent", false)),
			cached: []*metav1.PartialObjectMetadata{object("parent")},
			want: []string{`patch child {"metadata":{"ownerReferences":[` +
				`{"apiVersion":"v1","blockOwnerDeletion":false,"kind":"ConfigMap","name":"parent","uid":"uid-parent"}]}}`},
		},
		{
			name:   "owner waiting, dependent has dependents: deleted in the foreground",
			item:   object("parent", ownedBy("grandparent", true)),
			cached: []*metav1.PartialObjectMetadata{object("grandparent", deleting(metav1.FinalizerDeleteDependents)), object("child", ownedBy("parent", true))},
			want:   []string{"delete parent Foreground"},
		},
		{
			name:   "owner waiting, dependent without dependents: deleted in the background",
			item:   object("child", ownedBy("parent", true)),
			cached: []*metav1.PartialObjectMetadata{object("parent", deleting(metav1.FinalizerDeleteDependents))},
			want:   []string{"delete child Background"},
		},
		{
			name: "owner waiting on a dependent that waits too: unblock, then foreground",
			item: object("parent", ownedBy("grandparent", true)),
			cached: []*metav1.PartialObjectMetadata{
				object("grandparent", deleting(metav1.FinalizerDeleteDependents)),
				object("child", ownedBy("parent", true), deleting(metav1.FinalizerDeleteDependents)),
			},
			want: []string{
				`patch parent {"metadata":{"ownerReferences":[` +
					`{"apiVersion":"v1","blockOwnerDeletion":false,"kind":"ConfigMap","name":"grandparent","uid":"uid-grandparent"}]}}`,
				"delete parent Foreground",
			},
		},
		{
			name: "the dependent's own orphan finalizer picks the policy",
			item: object("child", ownedBy("parent", true), func(m *metav1.PartialObjectMetadata) {
				m.Finalizers = []string{metav1.FinalizerOrphanDependents}
			}),
			want: []string{"delete child Orphan"},
		},
		{
			name: "already being deleted: nothing",
			item: object("child", ownedBy("parent", true), deleting("example.com/hold")),
		},
		{
			name: "no owners: nothing",
			item: object("loner"),
		},
		{
			name:   "foreground owner with a blocking dependent: waits",
			item:   object("parent", deleting(metav1.FinalizerDeleteDependents)),
			cached: []*metav1.PartialObjectMetadata{object("child", ownedBy("parent", true))},
		},
		{
			name:   "foreground owner with non-blocking dependents only: finalizer removed",
			item:   object("parent", deleting(metav1.FinalizerDeleteDependents, "example.com/other")),
			cached: []*metav1.PartialObjectMetadata{object("child", ownedBy("parent", false))},
			want:   []string{`patch parent {"metadata":{"finalizers":["example.com/other"]}}`},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Cached objects exist on the server too.
			live := append(append([]*metav1.PartialObjectMetadata{tc.item}, tc.live...), tc.cached...)
			f := newFixture(t, dedupe(live), map[schema.GroupVersionResource][]*metav1.PartialObjectMetadata{
				configMaps: append([]*metav1.PartialObjectMetadata{tc.item}, tc.cached...),
			})
			if err := f.gc.attemptToDelete(context.Background(), refOf(configMaps, tc.item)); err != nil {
				t.Fatalf("attemptToDelete: %v", err)
			}
			if diff := cmp.Diff(tc.want, f.writes(t)); diff != "" {
				t.Errorf("writes (-want +got):\n%s", diff)
			}
		})
	}
}

// dedupe keeps the first object of each name.
func dedupe(objects []*metav1.PartialObjectMetadata) []*metav1.PartialObjectMetadata {
	seen := sets.New[string]()
	var out []*metav1.PartialObjectMetadata
	for _, m := range objects {
		if !seen.Has(m.Name) {
			seen.Insert(m.Name)
			out = append(out, m)
		}
	}
	return out
}

func TestAttemptToDeleteGoneObjectQueuesDependents(t *testing.T) {
	child := object("child", ownedBy("parent", true))
	f := newFixture(t, []*metav1.PartialObjectMetadata{child}, map[schema.GroupVersionResource][]*metav1.PartialObjectMetadata{
		configMaps: {child},
	})
	if err := f.gc.attemptToDelete(context.Background(), refOf(configMaps, object("parent"))); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]objectRef{refOf(configMaps, child)}, f.queued(), cmp.AllowUnexported(objectRef{})); diff != "" {
		t.Errorf("queued (-want +got):\n%s", diff)
	}
}

func TestAttemptToDeleteClusterScopedWithNamespacedOwner(t *testing.T) {
	node := object("node-a", clusterScoped, ownedBy("parent", true))
	f := newFixture(t, []*metav1.PartialObjectMetadata{node}, map[schema.GroupVersionResource][]*metav1.PartialObjectMetadata{
		nodes: {node},
	})
	if err := f.gc.attemptToDelete(context.Background(), refOf(nodes, node)); err != nil {
		t.Fatalf("attemptToDelete: %v, want the invalid reference ignored", err)
	}
	if writes := f.writes(t); len(writes) != 0 {
		t.Errorf("writes = %v, want none", writes)
	}
}

func TestAttemptToDeleteClusterScopedOwner(t *testing.T) {
	// A namespaced object may be owned by a cluster-scoped one.
	pod := object("pod", ownedByNode("node-a"), func(m *metav1.PartialObjectMetadata) { m.Kind = "Pod" })
	f := newFixture(t, []*metav1.PartialObjectMetadata{pod}, map[schema.GroupVersionResource][]*metav1.PartialObjectMetadata{pods: {pod}})
	if err := f.gc.attemptToDelete(context.Background(), refOf(pods, pod)); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"delete pod Background"}, f.writes(t)); diff != "" {
		t.Errorf("writes (-want +got):\n%s", diff)
	}
}

func TestAttemptToOrphan(t *testing.T) {
	owner := object("parent", deleting(metav1.FinalizerOrphanDependents))
	first := object("first", ownedBy("parent", true))
	second := object("second", ownedBy("parent", false), ownedBy("other", false))
	f := newFixture(t, []*metav1.PartialObjectMetadata{owner, first, second}, map[schema.GroupVersionResource][]*metav1.PartialObjectMetadata{
		configMaps: {owner, first, second},
	})
	if err := f.gc.attemptToOrphan(context.Background(), refOf(configMaps, owner)); err != nil {
		t.Fatal(err)
	}
	got := f.writes(t)
	want := []string{
		`patch first {"metadata":{"ownerReferences":[]}}`,
		`patch second {"metadata":{"ownerReferences":[{"apiVersion":"v1","blockOwnerDeletion":false,"kind":"ConfigMap","name":"other","uid":"uid-other"}]}}`,
		`patch parent {"metadata":{"finalizers":[]}}`,
	}
	if diff := cmp.Diff(want, sortedPatches(got)); diff != "" {
		t.Errorf("writes (-want +got):\n%s", diff)
	}
	if last := got[len(got)-1]; last != want[2] {
		t.Errorf("last write = %s, want the finalizer removed after the dependents were orphaned", last)
	}
}

// sortedPatches puts the dependents' patches (in any order) before the
// owner's.
func sortedPatches(writes []string) []string {
	if len(writes) < 2 {
		return writes
	}
	deps := sets.List(sets.New(writes[:len(writes)-1]...))
	return append(deps, writes[len(writes)-1])
}

func TestObjectChangedQueues(t *testing.T) {
	tests := []struct {
		name   string
		cached []*metav1.PartialObjectMetadata
		old    *metav1.PartialObjectMetadata
		obj    *metav1.PartialObjectMetadata
		want   []string
	}{
		{
			name:   "owner cached: nothing to check",
			cached: []*metav1.PartialObjectMetadata{object("parent")},
			obj:    object("child", ownedBy("parent", true)),
		},
		{
			name: "owner not cached: check the dependent",
			obj:  object("child", ownedBy("parent", true)),
			want: []string{"child"},
		},
		{
			name:   "foreground deletion starts: the owner and its dependents",
			cached: []*metav1.PartialObjectMetadata{object("child", ownedBy("parent", true))},
			old:    object("parent"),
			obj:    object("parent", deleting(metav1.FinalizerDeleteDependents)),
			want:   []string{"child", "parent"},
		},
		{
			name:   "a dependent of a foreground owner changes: both",
			cached: []*metav1.PartialObjectMetadata{object("parent", deleting(metav1.FinalizerDeleteDependents))},
			old:    object("child", ownedBy("parent", true)),
			obj:    object("child", ownedBy("parent", true), deleting()),
			want:   []string{"child", "parent"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, nil, map[schema.GroupVersionResource][]*metav1.PartialObjectMetadata{configMaps: tc.cached})
			var old interface{}
			if tc.old != nil {
				old = tc.old
			}
			f.gc.objectChanged(configMaps, old, tc.obj)
			var got []string
			for _, item := range f.queued() {
				got = append(got, item.name)
			}
			got = sets.List(sets.New(got...))
			if len(got) == 0 {
				got = nil
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("queued (-want +got):\n%s", diff)
			}
		})
	}
}

func TestObjectDeletedQueuesDependents(t *testing.T) {
	child := object("child", ownedBy("parent", true))
	f := newFixture(t, nil, map[schema.GroupVersionResource][]*metav1.PartialObjectMetadata{configMaps: {child}})
	f.gc.objectDeleted(configMaps, object("parent"))
	if diff := cmp.Diff([]objectRef{refOf(configMaps, child)}, f.queued(), cmp.AllowUnexported(objectRef{})); diff != "" {
		t.Errorf("queued (-want +got):\n%s", diff)
	}
}

func TestDeletableResources(t *testing.T) {
	gc := New(fake.NewClientset(), fakemetadata.NewSimpleMetadataClient(fakemetadata.NewTestScheme()), Config{})
	all := []string{"create", "delete", "get", "list", "patch", "update", "watch"}
	lists := []*metav1.APIResourceList{
		{GroupVersion: "v1", APIResources: []metav1.APIResource{
			{Name: "pods", Namespaced: true, Kind: "Pod", Verbs: all},
			{Name: "pods/status", Namespaced: true, Kind: "Pod", Verbs: []string{"get", "patch", "update"}},
			{Name: "events", Namespaced: true, Kind: "Event", Verbs: all},
			{Name: "bindings", Namespaced: true, Kind: "Binding", Verbs: []string{"create"}},
		}},
		{GroupVersion: "apps/v1", APIResources: []metav1.APIResource{
			{Name: "deployments", Namespaced: true, Kind: "Deployment", Verbs: all},
		}},
		{GroupVersion: "events.k8s.io/v1", APIResources: []metav1.APIResource{
			{Name: "events", Namespaced: true, Kind: "Event", Verbs: all},
		}},
	}
	got := gc.deletableResources(lists)
	want := sets.New(
		schema.GroupVersionResource{Version: "v1", Resource: "pods"},
		schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"},
	)
	if !got.Equal(want) {
		t.Errorf("deletable resources = %v, want %v", got.UnsortedList(), want.UnsortedList())
	}
}
