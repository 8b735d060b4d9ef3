// Package controllertest holds fakes for testing controllers built on
// package controller. Only tests import it.
//
// FakePodControl records what a controller asked for; it does not create,
// delete or patch anything, does not record events, and does not feed
// informers: a test that needs the pods to exist afterwards adds them to
// its indexers itself.
package controllertest
