package apiserver

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"github.com/navarch/navarch/internal/registry/builtin"
)

// podResource returns the served pods resource.
func podResource(t testing.TB) *resource {
	for _, k := range builtin.Kinds() {
		if k.Resource == "pods" && k.GroupVersion.Group == "" {
			res, err := newResource(k)
			if err != nil {
				t.Fatal(err)
			}
			return res
		}
	}
	t.Fatal("no pods kind")
	return nil
}

// FuzzDecodeBody feeds arbitrary bodies, in each content type, through
// the request decoder and the pod strategy: they may be refused, never
// crash.
func FuzzDecodeBody(f *testing.F) {
	f.Add([]byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"c","image":"i"}]}}`), uint8(0))
	f.Add([]byte("apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n"), uint8(1))
	f.Add([]byte(`{"metadata":{"name":"p","labels":{"a":"b"}},"spec":{"volumes":[{"name":"v","configMap":{"name":"c","items":[{"key":"k","path":"../x"}]}}]}}`), uint8(0))
	f.Add([]byte("k8s\x00\x0a\x02\x0a\x00"), uint8(2))
	res := podResource(f)
	types := []string{"application/json", "application/yaml", "application/vnd.kubernetes.protobuf"}
	f.Fuzz(func(t *testing.T, body []byte, which uint8) {
		r := httptest.NewRequest(http.MethodPost, "/api/v1/namespaces/default/pods?fieldValidation=Strict", strings.NewReader(""))
		r.Header.Set("Content-Type", types[int(which)%len(types)])
		w := httptest.NewRecorder()
		obj, err := decodeBody(w, r, res, body, res.kind.GroupVersionKind(), res.kind.New())
		if err != nil {
			return
		}
		res.kind.Strategy.Default(obj)
		res.kind.Strategy.PrepareForCreate(obj)
		_ = res.kind.Strategy.Validate(obj)
		if res.kind.Table != nil {
			_ = res.kind.Table.Row(obj)
		}
	})
}

// FuzzApplyPatch applies arbitrary patches of each type to a pod: they may
// be refused, never crash or change the original.
func FuzzApplyPatch(f *testing.F) {
	f.Add([]byte(`{"metadata":{"labels":{"a":"b"}}}`), uint8(0))
	f.Add([]byte(`[{"op":"replace","path":"/spec/containers/0/image","value":"x"}]`), uint8(1))
	f.Add([]byte(`{"spec":{"containers":[{"name":"c","$patch":"delete"}]}}`), uint8(2))
	f.Add([]byte(`{"spec":{"$setElementOrder/containers":[{"name":"c"}],"containers":[{"name":"d","image":"e"}]}}`), uint8(2))
	res := podResource(f)
	patchTypes := []types.PatchType{types.MergePatchType, types.JSONPatchType, types.StrategicMergePatchType}
	f.Fuzz(func(t *testing.T, patch []byte, which uint8) {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default", Labels: map[string]string{"x": "y"}},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "i"}}},
		}
		before := pod.DeepCopy()
		obj, _, err := applyPatch(res.kind.GroupVersionKind(), res.kind.New, pod, patchTypes[int(which)%len(patchTypes)], patch)
		if !equalObjects(before, pod) {
			t.Fatalf("patch changed the original object")
		}
		if err != nil {
			return
		}
		if _, ok := obj.(*corev1.Pod); !ok {
			t.Fatalf("patched object is %T", obj)
		}
		_ = res.kind.Strategy.ValidateUpdate(obj, before)
	})
}

func equalObjects(a, b runtime.Object) bool {
	ja, _ := encodeJSON(a, corev1.SchemeGroupVersion)
	jb, _ := encodeJSON(b, corev1.SchemeGroupVersion)
	return string(ja) == string(jb)
}
