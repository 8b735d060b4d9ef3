// Package framework starts Navarch clusters for tests, in-process (fast,
// for integration tests) or as the real binary (for end-to-end tests), and
// offers the helpers tests share: clients, kubectl, and waiting for
// conditions with a deadline.
package framework
