package apiserver

import (
	"context"
	"fmt"
	"mime"
	"net/http"
	"reflect"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/navarch/navarch/internal/storage"
)

// serveResource dispatches a resource request to its verb handler.
func (s *Server) serveResource(w http.ResponseWriter, r *http.Request, info requestInfo) {
	gvr := schema.GroupVersionResource{Group: info.Group, Version: info.Version, Resource: info.Resource}
	res := s.resources[gvr]
	if res == nil {
		writeError(w, r, notFoundPath())
		return
	}
	// A namespaced kind is reached by name only inside a namespace; a
	// cluster-scoped kind never inside one.
	if res.kind.Namespaced && info.Namespace == "" && (info.Name != "" || info.Verb == "create" || info.Verb == "deletecollection") {
		writeError(w, r, notFoundPath())
		return
	}
	if !res.kind.Namespaced && info.Namespace != "" {
		writeError(w, r, notFoundPath())
		return
	}
	if info.Subresource != "" {
		s.serveSubresource(w, r, res, info)
		return
	}
	if len(info.Parts) > 2 {
		writeError(w, r, notFoundPath())
		return
	}
	switch info.Verb {
	case "get":
		s.get(w, r, res, info)
	case "list":
		s.list(w, r, res, info)
	case "watch":
		s.watch(w, r, res, info)
	case "create":
		if info.Name != "" {
			writeError(w, r, methodNotSupported(res, info.Verb))
			return
		}
		s.create(w, r, res, info)
	case "update":
		s.update(w, r, res, info, updateMain)
	case "patch":
		s.patch(w, r, res, info, updateMain)
	case "delete":
		s.delete(w, r, res, info)
	case "deletecollection":
		s.deleteCollection(w, r, res, info)
	default:
		writeError(w, r, methodNotSupported(res, info.Verb))
	}
}

func methodNotSupported(res *resource, verb string) error {
	return apierrors.NewMethodNotSupported(res.gr, verb)
}

// get answers GET of one object.
func (s *Server) get(w http.ResponseWriter, r *http.Request, res *resource, info requestInfo) {
	var opts metav1.GetOptions
	if err := decodeQuery(r, &opts); err != nil {
		writeError(w, r, err)
		return
	}
	obj, err := s.getServed(r.Context(), res, info.Namespace, info.Name, opts.ResourceVersion)
	if err != nil {
		writeError(w, r, err)
		return
	}
	s.respond(w, r, res, http.StatusOK, obj)
}

// getServed reads one object in its served form.
func (s *Server) getServed(ctx context.Context, res *resource, namespace, name, rv string) (runtime.Object, error) {
	stored := res.newStored()
	if err := res.store.Get(ctx, res.key(namespace, name), storage.GetOptions{ResourceVersion: rv}, stored); err != nil {
		return nil, storageError(err, res.gr, name)
	}
	return res.toServed(stored)
}

// listOptions turns the query of a list or watch into storage options.
func (s *Server) listOptions(r *http.Request, res *resource) (metav1.ListOptions, storage.ListOptions, error) {
	var opts metav1.ListOptions
	if err := decodeQuery(r, &opts); err != nil {
		return opts, storage.ListOptions{}, err
	}
	sopts, err := storageListOptions(res, opts)
	return opts, sopts, err
}

// storageListOptions checks the options of a list or watch of res and
// turns them into the storage's.
func storageListOptions(res *resource, opts metav1.ListOptions) (storage.ListOptions, error) {
	label, err := labels.Parse(opts.LabelSelector)
	if err != nil {
		return storage.ListOptions{}, apierrors.NewBadRequest(fmt.Sprintf("unable to parse requirement: %v", err))
	}
	fieldSel, err := fields.ParseSelector(opts.FieldSelector)
	if err != nil {
		return storage.ListOptions{}, apierrors.NewBadRequest(fmt.Sprintf("invalid field selector: %v", err))
	}
	for _, req := range fieldSel.Requirements() {
		if !res.fields.Has(req.Field) {
			return storage.ListOptions{}, apierrors.NewBadRequest(fmt.Sprintf("field label not supported: %s", req.Field))
		}
	}
	if opts.Continue != "" && opts.ResourceVersion != "" && opts.ResourceVersion != "0" {
		return storage.ListOptions{}, apierrors.NewBadRequest("specifying resource version is not allowed when using continue")
	}
	if opts.ResourceVersionMatch != "" && opts.ResourceVersion == "" {
		return storage.ListOptions{}, apierrors.NewBadRequest("resourceVersionMatch is forbidden unless resourceVersion is provided")
	}
	return storage.ListOptions{
		ResourceVersion:      opts.ResourceVersion,
		ResourceVersionMatch: opts.ResourceVersionMatch,
		Predicate: storage.Predicate{
			Label: label, Field: fieldSel, GetAttrs: res.attrs,
			Limit: opts.Limit, Continue: opts.Continue,
		},
		SendInitialEvents:   opts.SendInitialEvents,
		AllowWatchBookmarks: opts.AllowWatchBookmarks,
		NewObject:           res.newStored,
	}, nil
}

// list answers GET of a collection.
func (s *Server) list(w http.ResponseWriter, r *http.Request, res *resource, info requestInfo) {
	_, sopts, err := s.listOptions(r, res)
	if err != nil {
		writeError(w, r, err)
		return
	}
	list := res.newStoredList()
	if err := res.store.List(r.Context(), res.listPrefix(info.Namespace), sopts, list); err != nil {
		writeError(w, r, storageError(err, res.gr, ""))
		return
	}
	served, err := res.toServedList(list)
	if err != nil {
		writeError(w, r, apierrors.NewInternalError(err))
		return
	}
	s.respond(w, r, res, http.StatusOK, served)
}

// create answers POST of a new object.
func (s *Server) create(w http.ResponseWriter, r *http.Request, res *resource, info requestInfo) {
	ctx := writeContext(r)
	isDryRun, err := dryRun(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	body, err := readBody(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	obj, err := decodeBody(w, r, res, body, res.kind.GroupVersionKind(), res.kind.New())
	if err != nil {
		writeError(w, r, err)
		return
	}
	out, err := s.createObject(ctx, res, info.Namespace, obj, isDryRun)
	if err != nil {
		writeError(w, r, err)
		return
	}
	s.respond(w, r, res, http.StatusCreated, out)
}

// createObject runs the create rules on obj (a served object) and stores
// it. It is also used to create bootstrap objects.
func (s *Server) createObject(ctx context.Context, res *resource, namespace string, obj runtime.Object, isDryRun bool) (runtime.Object, error) {
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil, apierrors.NewBadRequest(err.Error())
	}
	if res.kind.Namespaced {
		switch {
		case m.GetNamespace() == "":
			m.SetNamespace(namespace)
		case m.GetNamespace() != namespace:
			return nil, apierrors.NewBadRequest("the namespace of the provided object does not match the namespace sent on the request")
		}
	} else {
		m.SetNamespace("")
	}
	generatedName := m.GetName() == "" && m.GetGenerateName() != ""
	if generatedName {
		m.SetName(generateName(m.GetGenerateName()))
	}
	if m.GetName() == "" {
		return nil, apierrors.NewInvalid(res.kind.GroupVersionKind().GroupKind(), "",
			field.ErrorList{field.Required(field.NewPath("metadata", "name"), "name or generateName is required")})
	}
	prepareObjectMetaForCreate(m, res.hasSpec)
	res.kind.Strategy.Default(obj)
	res.kind.Strategy.PrepareForCreate(obj)
	// As upstream's admission chain: the namespace lifecycle first, then
	// mutating admission, then validation.
	if res.kind.Namespaced {
		if err := s.checkNamespaceAcceptsContent(ctx, m.GetNamespace()); err != nil {
			return nil, err
		}
	}
	if err := s.mutateCreate(ctx, obj); err != nil {
		return nil, err
	}
	if errs := res.kind.Strategy.Validate(obj); len(errs) > 0 {
		return nil, apierrors.NewInvalid(res.kind.GroupVersionKind().GroupKind(), m.GetName(), errs)
	}
	if s.hasCreateSideEffects(obj) {
		// Allocation is not undone by a failed create for free: answer
		// AlreadyExists before taking anything.
		if err := res.store.Get(ctx, res.key(m.GetNamespace(), m.GetName()), storage.GetOptions{}, res.newStored()); err == nil {
			return nil, apierrors.NewAlreadyExists(res.gr, m.GetName())
		}
	}
	if err := s.admitCreate(ctx, res, obj, isDryRun); err != nil {
		return nil, err
	}
	if isDryRun {
		return obj, nil
	}
	out := res.newStored()
	for attempt := 1; ; attempt++ {
		stored, err := res.toStored(obj)
		if err != nil {
			s.releaseCreate(ctx, res, obj)
			return nil, apierrors.NewInternalError(err)
		}
		err = res.store.Create(ctx, res.key(m.GetNamespace(), m.GetName()), stored, out)
		if err == nil {
			break
		}
		// Five random characters collide: among 10,000 pods of one
		// ReplicaSet, a few times. As upstream since 1.32, a generated
		// name that is taken is generated again rather than failing.
		if generatedName && storage.IsExists(err) && attempt < maxNameGenerationAttempts {
			m.SetName(generateName(m.GetGenerateName()))
			continue
		}
		s.releaseCreate(ctx, res, obj)
		return nil, storageError(err, res.gr, m.GetName())
	}
	return res.toServed(out)
}

// maxNameGenerationAttempts is how many names a create with generateName
// tries before it answers AlreadyExists (upstream's
// maxNameGenerationCreateAttempts).
const maxNameGenerationAttempts = 8

// prepareObjectMetaForCreate sets the fields the server owns on a new
// object and clears the ones a client may not set.
func prepareObjectMetaForCreate(m metav1.Object, hasSpec bool) {
	m.SetUID(uuid.NewUUID())
	m.SetCreationTimestamp(metav1.Now())
	m.SetResourceVersion("")
	m.SetDeletionTimestamp(nil)
	m.SetDeletionGracePeriodSeconds(nil)
	m.SetSelfLink("")
	if hasSpec {
		m.SetGeneration(1)
	} else {
		m.SetGeneration(0)
	}
}

// generateName appends five random characters to prefix, as upstream's
// SimpleNameGenerator does (cutting prefix so the name fits 63 characters).
func generateName(prefix string) string {
	const maxPrefix = 63 - 5
	if len(prefix) > maxPrefix {
		prefix = prefix[:maxPrefix]
	}
	return prefix + utilrand.String(5)
}

// updateTarget says which part of an object an update writes: the main
// resource, its status, or another writable subresource of its kind
// (registry.Kind.Subresources), by that subresource's name.
type updateTarget string

const (
	updateMain   updateTarget = ""
	updateStatus updateTarget = "status"
)

// dryRunResult aborts a GuaranteedUpdate in dry-run mode, carrying the
// object that would have been written.
type dryRunResult struct{ obj runtime.Object }

func (dryRunResult) Error() string { return "apiserver: dry run" }

// update answers PUT of an object or of its status.
func (s *Server) update(w http.ResponseWriter, r *http.Request, res *resource, info requestInfo, target updateTarget) {
	isDryRun, err := dryRun(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	body, err := readBody(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	obj, err := decodeBody(w, r, res, body, res.kind.GroupVersionKind(), res.kind.New())
	if err != nil {
		writeError(w, r, err)
		return
	}
	m, err := meta.Accessor(obj)
	if err != nil {
		writeError(w, r, apierrors.NewBadRequest(err.Error()))
		return
	}
	if m.GetName() != info.Name {
		writeError(w, r, apierrors.NewBadRequest(fmt.Sprintf("the name of the object (%s) does not match the name on the URL (%s)", m.GetName(), info.Name)))
		return
	}
	if res.kind.Namespaced {
		if m.GetNamespace() == "" {
			m.SetNamespace(info.Namespace)
		} else if m.GetNamespace() != info.Namespace {
			writeError(w, r, apierrors.NewBadRequest("the namespace of the provided object does not match the namespace sent on the request"))
			return
		}
	}
	// The update rules change what newObject returns, so each attempt
	// needs the body afresh: the first takes the decoded object itself, a
	// retry after a lost race (rare) decodes the body again (its warnings
	// were already given).
	decoded := obj
	out, err := s.updateObject(writeContext(r), res, info.Namespace, info.Name, target, isDryRun, func(runtime.Object) (runtime.Object, error) {
		if decoded != nil {
			fresh := decoded
			decoded = nil
			return fresh, nil
		}
		again, err := decodeBody(discardHeaders{}, r, res, body, res.kind.GroupVersionKind(), res.kind.New())
		if err != nil {
			return nil, err
		}
		if res.kind.Namespaced {
			if m, err := meta.Accessor(again); err == nil && m.GetNamespace() == "" {
				m.SetNamespace(info.Namespace)
			}
		}
		return again, nil
	})
	if err != nil {
		writeError(w, r, err)
		return
	}
	s.respond(w, r, res, http.StatusOK, out)
}

// discardHeaders is a ResponseWriter whose headers go nowhere, for a
// decode whose warnings were given already.
type discardHeaders struct{}

func (discardHeaders) Header() http.Header         { return http.Header{} }
func (discardHeaders) Write(b []byte) (int, error) { return len(b), nil }
func (discardHeaders) WriteHeader(int)             {}

// newObjectFunc computes the client's new version of an object from the
// stored one: the request body for PUT, the patched object for PATCH. It
// must not modify existing, which the update rules compare the result
// with; it returns an object of its own.
type newObjectFunc func(existing runtime.Object) (runtime.Object, error)

// updateObject runs the update rules and writes the result, retrying the
// computation when a concurrent write wins. A new object carrying a
// resourceVersion other than the stored one fails with 409 Conflict.
func (s *Server) updateObject(ctx context.Context, res *resource, namespace, name string, target updateTarget, isDryRun bool, newObject newObjectFunc) (runtime.Object, error) {
	key := res.key(namespace, name)
	out := res.newStored()
	var svcUpdate *serviceUpdate
	if s.services != nil && target == updateMain {
		if _, isService := res.kind.New().(*corev1.Service); isService {
			svcUpdate = &serviceUpdate{alloc: s.services}
		}
	}
	err := res.store.GuaranteedUpdate(ctx, key, out, false, nil, func(current runtime.Object) (runtime.Object, error) {
		existing, err := res.toServed(current)
		if err != nil {
			return nil, apierrors.NewInternalError(err)
		}
		obj, err := newObject(existing)
		if err != nil {
			return nil, err
		}
		if svcUpdate != nil {
			keepAllocated(obj.(*corev1.Service), existing.(*corev1.Service))
		}
		if err := s.applyUpdateRules(res, obj, existing, target); err != nil {
			return nil, err
		}
		if svcUpdate != nil {
			if err := svcUpdate.admit(ctx, obj.(*corev1.Service), existing.(*corev1.Service)); err != nil {
				return nil, err
			}
		}
		if isDryRun {
			return nil, dryRunResult{obj: obj}
		}
		return res.toStored(obj)
	})
	if svcUpdate != nil {
		svc, _ := out.(*corev1.Service)
		_, isDry := err.(dryRunResult)
		svcUpdate.finish(ctx, svc, err != nil || isDry)
	}
	if dr, ok := err.(dryRunResult); ok {
		return dr.obj, nil
	}
	if err != nil {
		return nil, storageError(err, res.gr, name)
	}
	served, err := res.toServed(out)
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	// An update that removed the last finalizer of an object being deleted
	// completes the deletion.
	if done, err := s.finishDeletionIfReady(ctx, res, served); err != nil || done {
		return served, err
	}
	return served, nil
}

// applyUpdateRules turns the client's obj into what may be stored over
// existing: server-owned metadata is kept, the strategy's rules run.
func (s *Server) applyUpdateRules(res *resource, obj, existing runtime.Object, target updateTarget) error {
	m, err := meta.Accessor(obj)
	if err != nil {
		return apierrors.NewBadRequest(err.Error())
	}
	old, err := meta.Accessor(existing)
	if err != nil {
		return apierrors.NewInternalError(err)
	}
	if rv := m.GetResourceVersion(); rv != "" && rv != old.GetResourceVersion() {
		return apierrors.NewConflict(res.gr, old.GetName(), fmt.Errorf("%s", objectModifiedMsg))
	}
	if uid := m.GetUID(); uid != "" && uid != old.GetUID() {
		return apierrors.NewConflict(res.gr, old.GetName(), fmt.Errorf("Precondition failed: UID in precondition: %v, UID in object meta: %v", uid, old.GetUID()))
	}
	m.SetUID(old.GetUID())
	m.SetName(old.GetName())
	m.SetNamespace(old.GetNamespace())
	m.SetCreationTimestamp(old.GetCreationTimestamp())
	m.SetDeletionTimestamp(old.GetDeletionTimestamp())
	m.SetDeletionGracePeriodSeconds(old.GetDeletionGracePeriodSeconds())
	m.SetResourceVersion(old.GetResourceVersion())
	m.SetSelfLink("")
	m.SetGeneration(old.GetGeneration())
	if m.GetDeletionTimestamp() != nil && len(m.GetFinalizers()) > len(old.GetFinalizers()) {
		// Upstream forbids adding finalizers once deletion started.
		for _, f := range m.GetFinalizers() {
			if !containsString(old.GetFinalizers(), f) {
				return apierrors.NewForbidden(res.gr, old.GetName(), fmt.Errorf("no new finalizers can be added if the object is being deleted, found new finalizers %q", f))
			}
		}
	}

	strategy := res.kind.Strategy
	switch target {
	case updateStatus:
		if res.kind.Status == nil {
			return apierrors.NewNotFound(res.gr, old.GetName())
		}
		// A status update changes the status (and, as upstream allows, the
		// annotations: the deployment controller records the revision
		// there) and nothing else.
		m.SetLabels(old.GetLabels())
		m.SetFinalizers(old.GetFinalizers())
		m.SetOwnerReferences(old.GetOwnerReferences())
		res.kind.Status.PrepareForStatusUpdate(obj, existing)
		if errs := res.kind.Status.ValidateStatusUpdate(obj, existing); len(errs) > 0 {
			return apierrors.NewInvalid(res.kind.GroupVersionKind().GroupKind(), old.GetName(), errs)
		}
		return nil
	case updateMain:
		strategy.Default(obj)
		return applySpecUpdate(res, m, old, obj, existing, strategy.PrepareForUpdate, strategy.ValidateUpdate)
	default:
		sub := res.kind.Subresources[string(target)]
		if sub == nil {
			return apierrors.NewNotFound(res.gr, old.GetName())
		}
		return applySpecUpdate(res, m, old, obj, existing, sub.PrepareForSubresourceUpdate, sub.ValidateSubresourceUpdate)
	}
}

// applySpecUpdate runs the rules of an update that may change the spec
// (of the main resource or of a subresource such as
// pods/ephemeralcontainers): prepare obj from existing, raise the
// generation when the spec changed, validate.
func applySpecUpdate(res *resource, m, old metav1.Object, obj, existing runtime.Object,
	prepare func(obj, old runtime.Object), validate func(obj, old runtime.Object) field.ErrorList) error {
	prepare(obj, existing)
	if res.hasSpec && !apiequality.Semantic.DeepEqual(specOf(obj), specOf(existing)) {
		m.SetGeneration(old.GetGeneration() + 1)
	}
	if errs := validate(obj, existing); len(errs) > 0 {
		return apierrors.NewInvalid(res.kind.GroupVersionKind().GroupKind(), old.GetName(), errs)
	}
	return nil
}

// specOf returns the Spec field of a typed object.
func specOf(obj runtime.Object) interface{} {
	v := reflect.ValueOf(obj)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return nil
	}
	f := v.Elem().FieldByName("Spec")
	if !f.IsValid() {
		return nil
	}
	return f.Interface()
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// delete answers DELETE of one object.
func (s *Server) delete(w http.ResponseWriter, r *http.Request, res *resource, info requestInfo) {
	opts, err := deleteOptions(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	out, deleted, err := s.deleteObject(r.Context(), res, info.Namespace, info.Name, opts)
	if err != nil {
		writeError(w, r, err)
		return
	}
	code := http.StatusOK
	if !deleted {
		code = http.StatusAccepted
	}
	s.respond(w, r, res, code, out)
}

// deleteOptions reads DeleteOptions from the body (if any) and the query.
func deleteOptions(r *http.Request) (*metav1.DeleteOptions, error) {
	opts := &metav1.DeleteOptions{}
	body, err := readBody(r)
	if err != nil {
		return nil, err
	}
	if len(body) > 0 {
		mediaType, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if err != nil {
			mediaType = runtime.ContentTypeJSON
		}
		info, ok := serializerFor(mediaType)
		if !ok {
			info, _ = serializerFor(runtime.ContentTypeJSON)
		}
		gvk := metav1.SchemeGroupVersion.WithKind("DeleteOptions")
		if _, _, err := info.Serializer.Decode(body, &gvk, opts); err != nil {
			return nil, apierrors.NewBadRequest("invalid DeleteOptions: " + err.Error())
		}
	}
	if err := decodeQuery(r, opts); err != nil {
		return nil, err
	}
	for _, v := range opts.DryRun {
		if v != metav1.DryRunAll {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("Invalid dryRun value %q", v))
		}
	}
	if opts.GracePeriodSeconds != nil && *opts.GracePeriodSeconds < 0 {
		zero := int64(0)
		opts.GracePeriodSeconds = &zero
	}
	if opts.OrphanDependents != nil && opts.PropagationPolicy != nil {
		return nil, apierrors.NewBadRequest("orphanDependents and propagationPolicy may not both be set")
	}
	if p := opts.PropagationPolicy; p != nil {
		switch *p {
		case metav1.DeletePropagationBackground, metav1.DeletePropagationForeground, metav1.DeletePropagationOrphan:
		default:
			return nil, apierrors.NewBadRequest(fmt.Sprintf("propagationPolicy %q is not supported: supported values are Background, Foreground, Orphan", *p))
		}
	}
	return opts, nil
}

// deleteObject deletes one object following upstream's rules: objects with
// finalizers (or asking for foreground/orphan propagation, or pods still
// running on a node) are marked with a deletionTimestamp and stay until
// their finalizers are gone (deleted=false); others are removed at once.
func (s *Server) deleteObject(ctx context.Context, res *resource, namespace, name string, opts *metav1.DeleteOptions) (runtime.Object, bool, error) {
	isDryRun := len(opts.DryRun) > 0
	key := res.key(namespace, name)
	var preconditions *storage.Preconditions
	if p := opts.Preconditions; p != nil {
		preconditions = &storage.Preconditions{UID: p.UID, ResourceVersion: p.ResourceVersion}
	}
	// Mark the object when its deletion must wait (this also checks the
	// preconditions against the current object); otherwise remove it, on
	// the condition that it is still the version just inspected. A writer
	// slipping in between (say, adding a finalizer) makes us start over.
	for attempt := 0; ; attempt++ {
		out := res.newStored()
		markedOnly := false
		var seenUID types.UID
		var seenRV string
		err := res.store.GuaranteedUpdate(ctx, key, out, false, preconditions, func(current runtime.Object) (runtime.Object, error) {
			obj, err := res.toServed(current)
			if err != nil {
				return nil, err
			}
			m, err := meta.Accessor(obj)
			if err != nil {
				return nil, err
			}
			seenUID, seenRV = m.GetUID(), m.GetResourceVersion()
			wait, err := s.markForDeletion(res, obj, m, opts)
			if err != nil {
				return nil, err
			}
			markedOnly = wait
			if isDryRun {
				return nil, dryRunResult{obj: obj}
			}
			if !wait {
				// Nothing to mark: write nothing, remove it below.
				return current, nil
			}
			return res.toStored(obj)
		})
		if dr, ok := err.(dryRunResult); ok {
			return dr.obj, !markedOnly, nil
		}
		if err != nil {
			return nil, false, storageError(preconditionError(err, res, name), res.gr, name)
		}
		if markedOnly {
			served, err := res.toServed(out)
			if err != nil {
				return nil, false, apierrors.NewInternalError(err)
			}
			return served, false, nil
		}
		obj, deleted, err := s.removeObject(ctx, res, namespace, name, &storage.Preconditions{UID: &seenUID, ResourceVersion: &seenRV})
		if apierrors.IsConflict(err) && attempt < 5 {
			continue
		}
		return obj, deleted, err
	}
}

// removeObject deletes the stored object now.
func (s *Server) removeObject(ctx context.Context, res *resource, namespace, name string, preconditions *storage.Preconditions) (runtime.Object, bool, error) {
	out := res.newStored()
	if err := res.store.Delete(ctx, res.key(namespace, name), out, preconditions, nil); err != nil {
		return nil, false, storageError(preconditionError(err, res, name), res.gr, name)
	}
	served, err := res.toServed(out)
	if err != nil {
		return nil, false, apierrors.NewInternalError(err)
	}
	s.afterDelete(ctx, res, served)
	return served, true, nil
}

// preconditionError words a failed storage precondition as upstream does.
func preconditionError(err error, res *resource, name string) error {
	if storage.CodeOf(err) == storage.ErrCodePreconditionFailed {
		var se *storage.Error
		if e, ok := err.(*storage.Error); ok {
			se = e
		}
		msg := "Precondition failed"
		if se != nil && se.Msg != "" {
			msg = se.Msg
		}
		return apierrors.NewConflict(res.gr, name, fmt.Errorf("%s", msg))
	}
	return err
}

// markForDeletion decides whether obj must wait for finalizers and, if so,
// sets its deletionTimestamp and the propagation finalizers. It returns
// false when the object may be removed at once.
func (s *Server) markForDeletion(res *resource, obj runtime.Object, m metav1.Object, opts *metav1.DeleteOptions) (bool, error) {
	finalizers := m.GetFinalizers()
	policy := propagationPolicy(opts)
	switch policy {
	case metav1.DeletePropagationOrphan:
		finalizers = addString(removeString(finalizers, metav1.FinalizerDeleteDependents), metav1.FinalizerOrphanDependents)
	case metav1.DeletePropagationForeground:
		finalizers = addString(removeString(finalizers, metav1.FinalizerOrphanDependents), metav1.FinalizerDeleteDependents)
	case metav1.DeletePropagationBackground:
		finalizers = removeString(removeString(finalizers, metav1.FinalizerOrphanDependents), metav1.FinalizerDeleteDependents)
	}
	gracePeriod, graceful := s.gracefulDeletion(res, obj, opts)
	if len(finalizers) == 0 && !namespaceHasFinalizers(obj) && !graceful {
		return false, nil
	}
	if m.GetDeletionTimestamp() == nil {
		now := metav1.NewTime(time.Now().Add(time.Duration(gracePeriod) * time.Second))
		m.SetDeletionTimestamp(&now)
		m.SetDeletionGracePeriodSeconds(&gracePeriod)
		if res.hasSpec {
			m.SetGeneration(m.GetGeneration() + 1)
		}
	} else if graceful && m.GetDeletionGracePeriodSeconds() != nil && gracePeriod < *m.GetDeletionGracePeriodSeconds() {
		// A second delete may shorten the grace period, never lengthen it.
		now := metav1.NewTime(time.Now().Add(time.Duration(gracePeriod) * time.Second))
		m.SetDeletionTimestamp(&now)
		m.SetDeletionGracePeriodSeconds(&gracePeriod)
	}
	m.SetFinalizers(finalizers)
	markNamespaceTerminating(obj)
	return true, nil
}

// propagationPolicy returns the effective propagation policy of a delete
// ("" when the kind's default applies, which is background).
func propagationPolicy(opts *metav1.DeleteOptions) metav1.DeletionPropagation {
	if opts.PropagationPolicy != nil {
		return *opts.PropagationPolicy
	}
	if opts.OrphanDependents != nil {
		if *opts.OrphanDependents {
			return metav1.DeletePropagationOrphan
		}
		return metav1.DeletePropagationBackground
	}
	return ""
}

func addString(list []string, s string) []string {
	if containsString(list, s) {
		return list
	}
	return append(list, s)
}

func removeString(list []string, s string) []string {
	var out []string
	for _, x := range list {
		if x != s {
			out = append(out, x)
		}
	}
	return out
}

// finishDeletionIfReady removes an object whose deletion was waiting once
// nothing holds it anymore (no finalizers, grace period over or zero).
func (s *Server) finishDeletionIfReady(ctx context.Context, res *resource, obj runtime.Object) (bool, error) {
	m, err := meta.Accessor(obj)
	if err != nil || m.GetDeletionTimestamp() == nil || len(m.GetFinalizers()) > 0 || namespaceHasFinalizers(obj) {
		return false, nil
	}
	if g := m.GetDeletionGracePeriodSeconds(); g != nil && *g > 0 {
		// A graceful pod deletion is finished by the node agent.
		return false, nil
	}
	uid := m.GetUID()
	_, _, err = s.removeObject(ctx, res, m.GetNamespace(), m.GetName(), &storage.Preconditions{UID: &uid})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return false, nil
	}
	return err == nil, err
}

// deleteCollection answers DELETE of a collection: every matching object
// is deleted as a single DELETE would.
func (s *Server) deleteCollection(w http.ResponseWriter, r *http.Request, res *resource, info requestInfo) {
	opts, err := deleteOptions(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	_, sopts, err := s.listOptions(r, res)
	if err != nil {
		writeError(w, r, err)
		return
	}
	list := res.newStoredList()
	if err := res.store.List(r.Context(), res.listPrefix(info.Namespace), sopts, list); err != nil {
		writeError(w, r, storageError(err, res.gr, ""))
		return
	}
	items, err := meta.ExtractList(list)
	if err != nil {
		writeError(w, r, apierrors.NewInternalError(err))
		return
	}
	var deleted []runtime.Object
	for _, item := range items {
		m, err := meta.Accessor(item)
		if err != nil {
			continue
		}
		itemOpts := opts.DeepCopy()
		if itemOpts.Preconditions == nil {
			uid := m.GetUID()
			itemOpts.Preconditions = &metav1.Preconditions{UID: &uid}
		}
		out, _, err := s.deleteObject(r.Context(), res, m.GetNamespace(), m.GetName(), itemOpts)
		if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
			continue
		}
		if err != nil {
			writeError(w, r, err)
			return
		}
		deleted = append(deleted, out)
	}
	result := res.kind.NewList()
	if err := meta.SetList(result, deleted); err != nil {
		writeError(w, r, apierrors.NewInternalError(err))
		return
	}
	s.respond(w, r, res, http.StatusOK, result)
}
