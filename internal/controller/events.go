package controller

import (
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/record"
	ref "k8s.io/client-go/tools/reference"
	"k8s.io/utils/clock"
)

// The event spam filter's settings: client-go's defaults, which its
// correlator applies (record.CorrelatorOptions' zero values).
const (
	spamFilterCacheSize = 4096
	spamFilterBurst     = 25
	spamFilterQPS       = 1. / 300.
)

// NewEventRecorder returns a recorder that writes core/v1 events as
// component (e.g. "replicaset-controller", upstream's source names)
// through client, and the function that stops it. Call stop when the
// controller ends so the broadcaster's goroutines go away.
//
// The events about one object are limited as client-go's correlator
// limits them (a burst of 25, then one per 5 minutes), but before they
// reach the correlator: it would drop the same events only after
// aggregating them and computing, for each, a patch of the event it
// repeats. A ReplicaSet creating 10,000 pods spent 3% of the server's
// cpu on patches for events dropped right after.
func NewEventRecorder(client kubernetes.Interface, component string) (recorder record.EventRecorder, stop func()) {
	broadcaster := record.NewBroadcaster()
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: client.CoreV1().Events("")})
	source := corev1.EventSource{Component: component}
	return newSpamFilteredRecorder(broadcaster.NewRecorder(scheme.Scheme, source), source, clock.RealClock{}), broadcaster.Shutdown
}

// spamFilteredRecorder passes to next only the events that client-go's
// spam filter, keyed as the correlator keys them (source, involved object,
// type), lets through.
type spamFilteredRecorder struct {
	next   record.EventRecorder
	source corev1.EventSource
	// mu makes a filter's read and update of one object's rate limiter
	// atomic: workers record events concurrently.
	mu     sync.Mutex
	filter *record.EventSourceObjectSpamFilter
}

func newSpamFilteredRecorder(next record.EventRecorder, source corev1.EventSource, clk clock.PassiveClock) *spamFilteredRecorder {
	return &spamFilteredRecorder{
		next:   next,
		source: source,
		filter: record.NewEventSourceObjectSpamFilter(spamFilterCacheSize, spamFilterBurst, spamFilterQPS, clk, spamKey),
	}
}

// spamKey is client-go's spam key (unexported there): the event's source,
// involved object and type.
func spamKey(e *corev1.Event) string {
	o := e.InvolvedObject
	return e.Source.Component + "\x00" + e.Source.Host + "\x00" + o.Kind + "\x00" + o.Namespace + "\x00" +
		o.Name + "\x00" + string(o.UID) + "\x00" + o.APIVersion + "\x00" + e.Type
}

// allowed reports whether an event of eventtype about object passes the
// filter. An object the recorder cannot reference passes: the recorder
// logs why it drops it.
func (r *spamFilteredRecorder) allowed(object runtime.Object, eventtype string) bool {
	involved, err := ref.GetReference(scheme.Scheme, object)
	if err != nil {
		return true
	}
	e := &corev1.Event{InvolvedObject: *involved, Source: r.source, Type: eventtype}
	r.mu.Lock()
	defer r.mu.Unlock()
	return !r.filter.Filter(e)
}

// Event implements record.EventRecorder.
func (r *spamFilteredRecorder) Event(object runtime.Object, eventtype, reason, message string) {
	if r.allowed(object, eventtype) {
		r.next.Event(object, eventtype, reason, message)
	}
}

// Eventf implements record.EventRecorder.
func (r *spamFilteredRecorder) Eventf(object runtime.Object, eventtype, reason, messageFmt string, args ...any) {
	if r.allowed(object, eventtype) {
		r.next.Eventf(object, eventtype, reason, messageFmt, args...)
	}
}

// AnnotatedEventf implements record.EventRecorder.
func (r *spamFilteredRecorder) AnnotatedEventf(object runtime.Object, annotations map[string]string, eventtype, reason, messageFmt string, args ...any) {
	if r.allowed(object, eventtype) {
		r.next.AnnotatedEventf(object, annotations, eventtype, reason, messageFmt, args...)
	}
}
