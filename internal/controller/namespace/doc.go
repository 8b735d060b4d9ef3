// Package namespace is the namespace lifecycle controller: when a namespace
// is deleted it deletes everything in it, and once nothing is left it
// removes the "kubernetes" finalizer through the namespace's finalize
// subresource, letting the API server remove the namespace itself.
//
// It works through the API only (discovery + dynamic client), so it
// deletes objects of every namespaced kind the server serves.
package namespace
