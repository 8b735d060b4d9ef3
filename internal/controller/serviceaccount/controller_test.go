package serviceaccount

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
)

func namespace(name string, phase corev1.NamespacePhase) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: corev1.NamespaceStatus{Phase: phase}}
}

func account(namespace, name string) *corev1.ServiceAccount {
	return &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace}}
}

func TestSync(t *testing.T) {
	terminating := namespace("gone", corev1.NamespaceTerminating)
	now := metav1.NewTime(time.Now())
	terminating.DeletionTimestamp = &now
	tests := []struct {
		name       string
		namespaces []*corev1.Namespace
		accounts   []*corev1.ServiceAccount
		// createErr, when set, is what the API answers to the create.
		createErr   error
		sync        string
		wantCreates []string // namespace/name of created accounts
		wantErr     bool
	}{
		{
			name:        "active namespace without the account gets it",
			namespaces:  []*corev1.Namespace{namespace("team", corev1.NamespaceActive)},
			sync:        "team",
			wantCreates: []string{"team/default"},
		},
		{
			name:       "existing account is left alone",
			namespaces: []*corev1.Namespace{namespace("team", corev1.NamespaceActive)},
			accounts:   []*corev1.ServiceAccount{account("team", "default")},
			sync:       "team",
		},
		{
			name:       "other accounts do not count",
			namespaces: []*corev1.Namespace{namespace("team", corev1.NamespaceActive)},
			accounts:   []*corev1.ServiceAccount{account("team", "builder"), account("other", "default")},
			sync:       "team", wantCreates: []string{"team/default"},
		},
		{
			name:       "terminating namespace gets nothing",
			namespaces: []*corev1.Namespace{terminating},
			sync:       "gone",
		},
		{
			name: "missing namespace gets nothing",
			sync: "nowhere",
		},
		{
			name:        "already exists is success",
			namespaces:  []*corev1.Namespace{namespace("team", corev1.NamespaceActive)},
			createErr:   apierrors.NewAlreadyExists(schema.GroupResource{Resource: "serviceaccounts"}, "default"),
			sync:        "team",
			wantCreates: []string{"team/default"},
		},
		{
			name:        "namespace starting to terminate is success",
			namespaces:  []*corev1.Namespace{namespace("team", corev1.NamespaceActive)},
			createErr:   terminatingError(),
			sync:        "team",
			wantCreates: []string{"team/default"},
		},
		{
			name:        "other create errors are returned for a retry",
			namespaces:  []*corev1.Namespace{namespace("team", corev1.NamespaceActive)},
			createErr:   apierrors.NewInternalError(errTest),
			sync:        "team",
			wantCreates: []string{"team/default"},
			wantErr:     true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			client := fake.NewClientset()
			if tc.createErr != nil {
				client.PrependReactor("create", "serviceaccounts", func(clienttesting.Action) (bool, runtime.Object, error) {
					return true, nil, tc.createErr
				})
			}
			factory := informers.NewSharedInformerFactory(client, 0)
			nsInformer := factory.Core().V1().Namespaces()
			saInformer := factory.Core().V1().ServiceAccounts()
			c := New(client, nsInformer, saInformer)
			for _, ns := range tc.namespaces {
				if err := nsInformer.Informer().GetIndexer().Add(ns); err != nil {
					t.Fatal(err)
				}
			}
			for _, sa := range tc.accounts {
				if err := saInformer.Informer().GetIndexer().Add(sa); err != nil {
					t.Fatal(err)
				}
			}
			err := c.sync(context.Background(), tc.sync)
			if (err != nil) != tc.wantErr {
				t.Fatalf("sync error = %v, want error %v", err, tc.wantErr)
			}
			var creates []string
			for _, action := range client.Actions() {
				if create, ok := action.(clienttesting.CreateAction); ok {
					sa := create.GetObject().(*corev1.ServiceAccount)
					creates = append(creates, create.GetNamespace()+"/"+sa.Name)
				} else {
					t.Errorf("unexpected action %s %s", action.GetVerb(), action.GetResource().Resource)
				}
			}
			if len(creates) != len(tc.wantCreates) {
				t.Fatalf("creates = %v, want %v", creates, tc.wantCreates)
			}
			for i := range creates {
				if creates[i] != tc.wantCreates[i] {
					t.Errorf("creates = %v, want %v", creates, tc.wantCreates)
				}
			}
		})
	}
}

func TestDeletedDefaultAccountQueuesItsNamespace(t *testing.T) {
	tests := []struct {
		name      string
		deleted   interface{}
		wantQueue int
	}{
		{name: "default account", deleted: account("team", "default"), wantQueue: 1},
		{name: "tombstone of the default account", deleted: tombstone(account("team", "default")), wantQueue: 1},
		{name: "another account", deleted: account("team", "builder"), wantQueue: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			client := fake.NewClientset()
			factory := informers.NewSharedInformerFactory(client, 0)
			c := New(client, factory.Core().V1().Namespaces(), factory.Core().V1().ServiceAccounts())
			c.serviceAccountDeleted(tc.deleted)
			if got := c.queue.Len(); got != tc.wantQueue {
				t.Errorf("queue length = %d, want %d", got, tc.wantQueue)
			}
		})
	}
}
