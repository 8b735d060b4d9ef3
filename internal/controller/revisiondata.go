package controller

import (
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"
)

// TemplateRevisionData is the ControllerRevision data of a workload's pod
// template, as the DaemonSet and StatefulSet controllers store it: a
// strategic merge patch replacing spec.template, which is what
// `kubectl rollout undo` applies to the workload.
func TemplateRevisionData(template *corev1.PodTemplateSpec) ([]byte, error) {
	raw, err := json.Marshal(template)
	if err != nil {
		return nil, fmt.Errorf("controller: encoding template: %w", err)
	}
	var fields map[string]interface{}
	if err := json.Unmarshal(raw, &fields); err != nil {
		return nil, fmt.Errorf("controller: encoding template: %w", err)
	}
	fields["$patch"] = "replace"
	data, err := json.Marshal(map[string]interface{}{"spec": map[string]interface{}{"template": fields}})
	if err != nil {
		return nil, fmt.Errorf("controller: encoding revision: %w", err)
	}
	return data, nil
}
