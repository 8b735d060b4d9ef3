package api

import (
	admissionv1 "k8s.io/api/admission/v1"
	apidiscoveryv2 "k8s.io/api/apidiscovery/v2"
	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	eventsv1 "k8s.io/api/events/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	storagev1 "k8s.io/api/storage/v1"
	metainternalversion "k8s.io/apimachinery/pkg/apis/meta/internalversion"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1beta1 "k8s.io/apimachinery/pkg/apis/meta/v1beta1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
)

// Scheme knows every Go type of the API groups Navarch serves, plus the
// meta.k8s.io types (Status, Table, PartialObjectMetadata, options).
// It is filled once at init and read-only afterwards.
var Scheme = runtime.NewScheme()

// Codecs serializes Scheme's types as JSON, YAML, protobuf and CBOR.
var Codecs = serializer.NewCodecFactory(Scheme)

// ParameterCodec decodes query parameters into option structs
// (ListOptions, GetOptions, DeleteOptions, ...).
var ParameterCodec = runtime.NewParameterCodec(Scheme)

func init() {
	for _, add := range []func(*runtime.Scheme) error{
		corev1.AddToScheme,
		appsv1.AddToScheme,
		batchv1.AddToScheme,
		networkingv1.AddToScheme,
		storagev1.AddToScheme,
		coordinationv1.AddToScheme,
		discoveryv1.AddToScheme,
		eventsv1.AddToScheme,
		autoscalingv1.AddToScheme,
		policyv1.AddToScheme,
		authenticationv1.AddToScheme,
		authorizationv1.AddToScheme,
		admissionv1.AddToScheme,
		apidiscoveryv2.AddToScheme,
		metav1beta1.AddMetaToScheme,
		metav1.AddMetaToScheme,
		metainternalversion.AddToScheme,
	} {
		utilruntime.Must(add(Scheme))
	}
	// Options and Status are registered unversioned, as upstream does, so
	// they decode from any group's query parameters.
	metav1.AddToGroupVersion(Scheme, schema.GroupVersion{Version: "v1"})
	for _, gv := range []schema.GroupVersion{corev1.SchemeGroupVersion, appsv1.SchemeGroupVersion,
		batchv1.SchemeGroupVersion, networkingv1.SchemeGroupVersion, storagev1.SchemeGroupVersion,
		coordinationv1.SchemeGroupVersion, discoveryv1.SchemeGroupVersion, eventsv1.SchemeGroupVersion,
		autoscalingv1.SchemeGroupVersion, policyv1.SchemeGroupVersion} {
		// One call per group: each names the preferred version of its group.
		utilruntime.Must(Scheme.SetVersionPriority(gv))
	}
}
