// Package serviceendpoints holds what the endpoints and endpointslice
// controllers share: which pods back a Service and on which port, which
// Services a pod change touches, the last-change trigger time of a
// Service, and the repacking of Endpoints subsets.
package serviceendpoints
