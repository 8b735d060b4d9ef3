package etcd3

import (
	"bytes"
	"math/rand"
	"reflect"
	"sort"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/apitesting/fuzzer"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metafuzzer "k8s.io/apimachinery/pkg/apis/meta/fuzzer"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"

	"github.com/navarch/navarch/internal/api"
)

// apiKinds returns every kind of scheme whose Go type is in k8s.io/api.
func apiKinds(scheme *runtime.Scheme) []schema.GroupVersionKind {
	var kinds []schema.GroupVersionKind
	for gvk, t := range scheme.AllKnownTypes() {
		if strings.HasPrefix(t.PkgPath(), "k8s.io/api/") {
			kinds = append(kinds, gvk)
		}
	}
	sort.Slice(kinds, func(i, j int) bool { return kinds[i].String() < kinds[j].String() })
	return kinds
}

// TestCodecRoundTripsEveryAPIType fills every k8s.io/api type with random
// values and checks that it decodes back equal, both into a typed object
// and into the type the envelope names. It takes the types from the API
// server's scheme and from client-go's, which has all of k8s.io/api.
func TestCodecRoundTripsEveryAPIType(t *testing.T) {
	for _, tc := range []struct {
		name     string
		scheme   *runtime.Scheme
		minKinds int
	}{
		{"navarch", api.Scheme, 40},
		{"client-go", clientgoscheme.Scheme, 300},
	} {
		t.Run(tc.name, func(t *testing.T) { testRoundTrips(t, tc.scheme, tc.minKinds) })
	}
}

func testRoundTrips(t *testing.T, scheme *runtime.Scheme, minKinds int) {
	codec := NewCodec(scheme)
	filler := fuzzer.FuzzerFor(metafuzzer.Funcs, rand.NewSource(1), serializer.NewCodecFactory(scheme))
	kinds := apiKinds(scheme)
	if len(kinds) < minKinds {
		t.Fatalf("found %d k8s.io/api kinds, want at least %d", len(kinds), minKinds)
	}
	for _, gvk := range kinds {
		t.Run(gvk.String(), func(t *testing.T) {
			for range 5 {
				obj, err := scheme.New(gvk)
				if err != nil {
					t.Fatalf("scheme.New: %v", err)
				}
				filler.Fill(obj)
				obj.GetObjectKind().SetGroupVersionKind(schema.GroupVersionKind{})
				data, err := codec.Marshal(obj)
				if err != nil {
					t.Fatalf("Marshal: %v", err)
				}
				// EncodedLen measures exactly what Marshal writes, and
				// AppendMarshal appends the same bytes to what dst holds.
				if n, err := codec.EncodedLen(obj); err != nil || n != len(data) {
					t.Fatalf("EncodedLen = %d, %v; Marshal wrote %d bytes", n, err, len(data))
				}
				appended, err := codec.AppendMarshal([]byte("head"), obj)
				if err != nil || string(appended[:4]) != "head" || !bytes.Equal(appended[4:], data) {
					t.Fatalf("AppendMarshal = %q, %v; want \"head\" then Marshal's %q", appended, err, data)
				}
				obj.GetObjectKind().SetGroupVersionKind(gvk) // what decoding sets

				typed := reflect.New(reflect.TypeOf(obj).Elem()).Interface().(runtime.Object)
				if err := codec.DecodeInto(data, typed); err != nil {
					t.Fatalf("DecodeInto: %v", err)
				}
				if !apiequality.Semantic.DeepEqual(obj, typed) {
					t.Fatalf("decoded into a typed object differs:\nwant %#v\ngot  %#v", obj, typed)
				}
				created, gotGVK, err := codec.Decode(data, nil, nil)
				if err != nil {
					t.Fatalf("Decode: %v", err)
				}
				if *gotGVK != gvk || !apiequality.Semantic.DeepEqual(obj, created) {
					t.Fatalf("decoded as %v %#v, want %v %#v", gotGVK, created, gvk, obj)
				}
			}
		})
	}
}

// TestCodecMatchesUpstreamEncoding checks that values are byte for byte
// what apimachinery's protobuf serializer writes, so tools that read
// kube-apiserver's etcd read ours.
func TestCodecMatchesUpstreamEncoding(t *testing.T) {
	pod := &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", Labels: map[string]string{"b": "2", "a": "1"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "i"}}},
	}
	var upstream bytes.Buffer
	if err := protobuf.NewSerializer(testScheme, testScheme).Encode(pod, &upstream); err != nil {
		t.Fatalf("upstream Encode: %v", err)
	}
	pod.TypeMeta = metav1.TypeMeta{} // ours takes the kind from the scheme
	ours, err := NewCodec(testScheme).Marshal(pod)
	if err != nil {
		t.Fatalf("Marshal: %v", err)
	}
	if !bytes.Equal(ours, upstream.Bytes()) {
		t.Errorf("encoding differs from upstream's:\nours     %q\nupstream %q", ours, upstream.Bytes())
	}
	if pod.Kind != "" {
		t.Errorf("Marshal set the input's kind to %q; it must not modify it", pod.Kind)
	}
}

func TestCodecDecodeErrors(t *testing.T) {
	codec := NewCodec(testScheme)
	pod, err := codec.Marshal(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}})
	if err != nil {
		t.Fatalf("Marshal: %v", err)
	}
	tests := []struct {
		name string
		data []byte
		into runtime.Object
	}{
		{name: "empty", data: nil, into: &corev1.Pod{}},
		{name: "JSON", data: []byte(`{"kind":"Pod","apiVersion":"v1"}`), into: &corev1.Pod{}},
		{name: "truncated", data: pod[:len(pod)-3], into: &corev1.Pod{}},
		{name: "prefix only", data: []byte(protobufPrefix), into: &corev1.Pod{}},
		{name: "wrong type", data: pod, into: &corev1.ConfigMap{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := codec.DecodeInto(tc.data, tc.into); err == nil {
				t.Errorf("DecodeInto succeeded, want an error")
			}
			if _, _, err := codec.Decode(tc.data, nil, tc.into); err == nil {
				t.Errorf("Decode succeeded, want an error")
			}
		})
	}
}
