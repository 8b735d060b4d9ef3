package configmap

import (
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func errorKeys(errs field.ErrorList) []string {
	keys := []string{}
	for _, e := range errs {
		keys = append(keys, string(e.Type)+" "+e.Field)
	}
	sort.Strings(keys)
	return keys
}

func newConfigMap() *corev1.ConfigMap {
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "conf", Namespace: "default", ResourceVersion: "1"},
		Data:       map[string]string{"app.properties": "a=1"},
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*corev1.ConfigMap)
		want   []string
	}{
		{name: "valid", mutate: func(*corev1.ConfigMap) {}},
		{
			name:   "bad name",
			mutate: func(c *corev1.ConfigMap) { c.Name = "Conf" },
			want:   []string{"FieldValueInvalid metadata.name"},
		},
		{
			name:   "bad key",
			mutate: func(c *corev1.ConfigMap) { c.Data["a/b"] = "x" },
			want:   []string{"FieldValueInvalid data[a/b]"},
		},
		{
			name:   "key in both maps",
			mutate: func(c *corev1.ConfigMap) { c.BinaryData = map[string][]byte{"app.properties": {1}} },
			want:   []string{"FieldValueInvalid data[app.properties]"},
		},
		{
			name:   "too large",
			mutate: func(c *corev1.ConfigMap) { c.Data["big"] = strings.Repeat("x", corev1.MaxSecretSize) },
			// Upstream names no field: the whole object is too large.
			want: []string{"FieldValueTooLong []"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cm := newConfigMap()
			tt.mutate(cm)
			if tt.want == nil {
				tt.want = []string{}
			}
			if d := cmp.Diff(tt.want, errorKeys(strategy{}.Validate(cm))); d != "" {
				t.Errorf("errors (-want +got):\n%s", d)
			}
		})
	}
}

func TestValidateUpdate(t *testing.T) {
	immutable := true
	tests := []struct {
		name      string
		immutable bool
		mutate    func(*corev1.ConfigMap)
		want      []string
	}{
		{name: "change data", mutate: func(c *corev1.ConfigMap) { c.Data["x"] = "y" }},
		{name: "immutable: change labels", immutable: true, mutate: func(c *corev1.ConfigMap) { c.Labels = map[string]string{"a": "b"} }},
		{
			name: "immutable: change data", immutable: true,
			mutate: func(c *corev1.ConfigMap) { c.Data["x"] = "y" },
			want:   []string{"FieldValueForbidden data"},
		},
		{
			name: "immutable: unset flag", immutable: true,
			mutate: func(c *corev1.ConfigMap) { c.Immutable = nil },
			want:   []string{"FieldValueForbidden immutable"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old := newConfigMap()
			if tt.immutable {
				old.Immutable = &immutable
			}
			cm := old.DeepCopy()
			tt.mutate(cm)
			if tt.want == nil {
				tt.want = []string{}
			}
			if d := cmp.Diff(tt.want, errorKeys(strategy{}.ValidateUpdate(cm, old))); d != "" {
				t.Errorf("errors (-want +got):\n%s", d)
			}
		})
	}
}

func TestTableAndKind(t *testing.T) {
	cm := newConfigMap()
	cm.BinaryData = map[string][]byte{"logo.png": {1}}
	cm.CreationTimestamp = metav1.NewTime(time.Now().Add(-3 * time.Minute))
	if d := cmp.Diff([]interface{}{"conf", int64(2), "3m"}, table.Row(cm)); d != "" {
		t.Errorf("row (-want +got):\n%s", d)
	}
	if k := Kind(); k.Resource != "configmaps" || k.ShortNames[0] != "cm" || !k.Namespaced || k.Status != nil {
		t.Errorf("Kind() = %+v", k)
	}
}
