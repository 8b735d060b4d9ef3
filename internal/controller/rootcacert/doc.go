// Package rootcacert is upstream's root-ca-cert-publisher: it keeps the
// ConfigMap kube-root-ca.crt, whose ca.crt is the cluster CA, in every
// active namespace, so the projected kube-api-access volume of every pod
// finds it. The CA comes from kube-system/kube-root-ca.crt, which the
// server publishes at bootstrap; a namespace's copy that is deleted or
// changed is put back.
package rootcacert
