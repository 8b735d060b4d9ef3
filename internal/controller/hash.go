package controller

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/utils/dump"
)

// ComputeHash returns upstream's hash of a pod template: FNV-32a over the
// template's deep dump, salted with collisionCount when it is set, printed
// in decimal and re-encoded with the letters rand.String uses. Deployments
// name ReplicaSets "<deployment>-<hash>" and label their pods
// pod-template-hash=<hash>; giving the same value as Kubernetes keeps
// names stable for users moving between the two.
func ComputeHash(template *corev1.PodTemplateSpec, collisionCount *int32) string {
	hasher := fnv.New32a()
	// Hash the value, not the pointer: the dump of a pointer differs.
	fmt.Fprintf(hasher, "%v", dump.ForHash(*template))
	if collisionCount != nil {
		salt := make([]byte, 8)
		binary.LittleEndian.PutUint32(salt, uint32(*collisionCount))
		hasher.Write(salt)
	}
	return rand.SafeEncodeString(fmt.Sprint(hasher.Sum32()))
}
