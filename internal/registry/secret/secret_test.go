package secret

import (
	"sort"
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

func newSecret(typ corev1.SecretType, data map[string][]byte) *corev1.Secret {
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "creds", Namespace: "default", ResourceVersion: "1"},
		Type:       typ,
		Data:       data,
	}
	strategy{}.Default(s)
	return s
}

func TestDefault(t *testing.T) {
	s := &corev1.Secret{Data: map[string][]byte{"a": []byte("1")}, StringData: map[string]string{"b": "2", "a": "3"}}
	strategy{}.Default(s)
	want := map[string][]byte{"a": []byte("3"), "b": []byte("2")}
	if d := cmp.Diff(want, s.Data); d != "" {
		t.Errorf("data (-want +got):\n%s", d)
	}
	if s.StringData != nil || s.Type != corev1.SecretTypeOpaque {
		t.Errorf("stringData %v type %q, want nil and Opaque", s.StringData, s.Type)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		typ  corev1.SecretType
		data map[string][]byte
		want []string
	}{
		{name: "opaque", data: map[string][]byte{"password": []byte("x")}},
		{name: "bad key", data: map[string][]byte{"a b": nil}, want: []string{"FieldValueInvalid data[a b]"}},
		{name: "tls", typ: corev1.SecretTypeTLS, data: map[string][]byte{"tls.crt": nil, "tls.key": nil}},
		{
			name: "tls without key", typ: corev1.SecretTypeTLS, data: map[string][]byte{"tls.crt": nil},
			want: []string{"FieldValueRequired data[tls.key]"},
		},
		{
			name: "docker config not JSON", typ: corev1.SecretTypeDockerConfigJson,
			data: map[string][]byte{".dockerconfigjson": []byte("{")},
			want: []string{"FieldValueInvalid data[.dockerconfigjson]"},
		},
		{
			name: "docker config missing", typ: corev1.SecretTypeDockerConfigJson,
			want: []string{"FieldValueRequired data[.dockerconfigjson]"},
		},
		{
			name: "basic auth empty", typ: corev1.SecretTypeBasicAuth,
			want: []string{"FieldValueRequired data[password]", "FieldValueRequired data[username]"},
		},
		{
			name: "token without account", typ: corev1.SecretTypeServiceAccountToken,
			want: []string{"FieldValueRequired metadata.annotations[kubernetes.io/service-account.name]"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.want == nil {
				tt.want = []string{}
			}
			got := errorKeys(strategy{}.Validate(newSecret(tt.typ, tt.data)))
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("errors (-want +got):\n%s", d)
			}
		})
	}
}

func TestValidateUpdate(t *testing.T) {
	immutable := true
	tests := []struct {
		name   string
		mutate func(old, s *corev1.Secret)
		want   []string
	}{
		{name: "change data", mutate: func(_, s *corev1.Secret) { s.Data["k"] = []byte("new") }},
		{
			name:   "change type",
			mutate: func(_, s *corev1.Secret) { s.Type = corev1.SecretTypeBasicAuth; s.Data["username"] = nil },
			want:   []string{"FieldValueInvalid type"},
		},
		{
			name: "immutable data",
			mutate: func(old, s *corev1.Secret) {
				old.Immutable, s.Immutable = &immutable, &immutable
				s.Data["k"] = []byte("new")
			},
			want: []string{"FieldValueForbidden data"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old := newSecret("", map[string][]byte{"k": []byte("v")})
			s := old.DeepCopy()
			tt.mutate(old, s)
			if tt.want == nil {
				tt.want = []string{}
			}
			if d := cmp.Diff(tt.want, errorKeys(strategy{}.ValidateUpdate(s, old))); d != "" {
				t.Errorf("errors (-want +got):\n%s", d)
			}
		})
	}
}

func TestTableFieldsKind(t *testing.T) {
	s := newSecret(corev1.SecretTypeTLS, map[string][]byte{"tls.crt": nil, "tls.key": nil})
	s.CreationTimestamp = metav1.NewTime(time.Now().Add(-2 * time.Minute))
	if d := cmp.Diff([]interface{}{"creds", "kubernetes.io/tls", int64(2), "2m"}, table.Row(s)); d != "" {
		t.Errorf("row (-want +got):\n%s", d)
	}
	k := Kind()
	if got := k.Fields(s)["type"]; got != "kubernetes.io/tls" {
		t.Errorf("type field = %q, want kubernetes.io/tls", got)
	}
	if k.Resource != "secrets" || len(k.ShortNames) != 0 || !k.Namespaced {
		t.Errorf("Kind() = %+v", k)
	}
}
