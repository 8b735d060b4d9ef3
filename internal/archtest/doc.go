// Package archtest holds the line of DESIGN.md's layout: a test that
// reads every package's imports and fails on an import that goes the
// wrong way (a controller reaching into the API server, anything but the
// API server and the server touching storage, ...).
package archtest
