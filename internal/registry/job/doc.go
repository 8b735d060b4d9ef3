// Package job is the registry entry of batch/v1 Job: its defaults
// (parallelism and completions 1 when both are unset, backoffLimit 6,
// completionMode NonIndexed, suspend and manualSelector false,
// podReplacementPolicy), the selector and pod labels it generates from the
// Job's uid and name, validation including what an update may change, the
// split between spec and status, the kubectl get columns and the
// status.successful field selector.
//
// It also exports ValidateJobTemplateSpec, which the cronjob package uses
// for its job template.
package job
