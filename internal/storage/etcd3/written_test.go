package etcd3

import (
	"bytes"
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/navarch/navarch/internal/storage"
)

// TestWrittenResult checks that under storage.WithWrittenResult a create
// and an update answer with the object they wrote: the resourceVersion and
// kind of the stored one, the same protobuf encoding as a read of the key,
// and the object handed in left as it was.
func TestWrittenResult(t *testing.T) {
	s := newTestStore(startEtcd(t, "").Client())
	ctx := storage.WithWrittenResult(context.Background())
	const key = "/registry/pods/ns/web"
	// Sub-second times and an empty (not nil) slice: what a decode would
	// change but a protobuf encoding does not show.
	now := metav1.NewTime(time.Now())
	in := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web", ResourceVersion: "7", CreationTimestamp: now,
			Finalizers: []string{}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "i"}}},
	}
	check := func(t *testing.T, what string, out *corev1.Pod) {
		t.Helper()
		read := &corev1.Pod{}
		if err := s.Get(context.Background(), key, storage.GetOptions{}, read); err != nil {
			t.Fatal(err)
		}
		if out.ResourceVersion != read.ResourceVersion {
			t.Errorf("%s: resourceVersion %q, read %q", what, out.ResourceVersion, read.ResourceVersion)
		}
		if out.GroupVersionKind() != read.GroupVersionKind() {
			t.Errorf("%s: kind %v, read %v", what, out.GroupVersionKind(), read.GroupVersionKind())
		}
		got, err := out.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		want, err := read.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: protobuf of the answer differs from a read:\n%x\n%x", what, got, want)
		}
	}

	out := &corev1.Pod{}
	if err := s.Create(ctx, key, in, out); err != nil {
		t.Fatal(err)
	}
	check(t, "create", out)
	if in.ResourceVersion != "7" || !in.GroupVersionKind().Empty() {
		t.Errorf("create changed the object handed in: resourceVersion %q, kind %v", in.ResourceVersion, in.GroupVersionKind())
	}
	if out.CreationTimestamp != now {
		t.Errorf("create answered %v, not the object written (%v)", out.CreationTimestamp, now)
	}

	var written *corev1.Pod
	out = &corev1.Pod{}
	err := s.GuaranteedUpdate(ctx, key, out, false, nil, func(cur runtime.Object) (runtime.Object, error) {
		written = cur.(*corev1.Pod)
		written.Labels = map[string]string{"app": "web"}
		written.Status.StartTime = &now
		return written, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	check(t, "update", out)
	if written.ResourceVersion == out.ResourceVersion {
		t.Errorf("update set resourceVersion %q on the object tryUpdate returned", written.ResourceVersion)
	}

	// An update that changes nothing answers the current object.
	rev := out.ResourceVersion
	out = &corev1.Pod{}
	err = s.GuaranteedUpdate(ctx, key, out, false, nil, func(cur runtime.Object) (runtime.Object, error) { return cur, nil })
	if err != nil {
		t.Fatal(err)
	}
	check(t, "no-op update", out)
	if out.ResourceVersion != rev {
		t.Errorf("no-op update: resourceVersion %q, want %q", out.ResourceVersion, rev)
	}

	// Without the option, the answer is the decoded value.
	out = &corev1.Pod{}
	err = s.GuaranteedUpdate(context.Background(), key, out, false, nil, func(cur runtime.Object) (runtime.Object, error) {
		p := cur.(*corev1.Pod)
		p.Labels["v"] = "2"
		p.Finalizers = []string{}
		return p, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if out.Finalizers != nil {
		t.Errorf("decoded answer has finalizers %#v, want nil", out.Finalizers)
	}
	check(t, "plain update", out)
}
