package controller

import (
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
	clocktesting "k8s.io/utils/clock/testing"
)

// TestSpamFilteredRecorder checks the recorder lets through what
// client-go's correlator would: 25 events per object and type, then one
// per 5 minutes, counted apart for each object.
func TestSpamFilteredRecorder(t *testing.T) {
	clk := clocktesting.NewFakePassiveClock(time.Now())
	inner := record.NewFakeRecorder(100)
	r := newSpamFilteredRecorder(inner, corev1.EventSource{Component: "replicaset-controller"}, clk)
	rs := func(name string) *appsv1.ReplicaSet {
		return &appsv1.ReplicaSet{
			TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "ReplicaSet"},
			ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, UID: types.UID("uid-" + name)},
		}
	}
	web, db := rs("web"), rs("db")
	for i := range 30 {
		r.Eventf(web, corev1.EventTypeNormal, "SuccessfulCreate", "Created pod: web-%d", i)
	}
	if got := len(inner.Events); got != 25 {
		t.Fatalf("%d of 30 events about one object passed, want 25", got)
	}
	r.Event(web, corev1.EventTypeWarning, "FailedCreate", "quota")
	r.Event(db, corev1.EventTypeNormal, "SuccessfulCreate", "Created pod: db-0")
	if got := len(inner.Events); got != 27 {
		t.Fatalf("a warning and an event about another object: %d events passed in all, want 27", got)
	}
	clk.SetTime(clk.Now().Add(5 * time.Minute))
	r.AnnotatedEventf(web, nil, corev1.EventTypeNormal, "SuccessfulCreate", "Created pod: web-%d", 30)
	r.Event(web, corev1.EventTypeNormal, "SuccessfulCreate", "Created pod: web-31")
	if got := len(inner.Events); got != 28 {
		t.Fatalf("5 minutes later: %d events passed in all, want 28 (one more)", got)
	}
}
