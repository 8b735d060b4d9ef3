package controllermanager

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func metaFor(name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Namespace: metav1.NamespaceSystem, Name: name}
}
