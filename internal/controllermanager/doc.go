// Package controllermanager runs the controllers and the scheduler of a
// `navarch server`, all behind one coordination.k8s.io Lease so that when
// several servers share an etcd exactly one of them acts; if it dies,
// another takes over within the lease duration (15 s).
package controllermanager
