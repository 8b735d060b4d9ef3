// Package job is the Job controller: it runs a Job's pods to completion
// and keeps the Job's status, as upstream's Job controller does, with pod
// tracking by finalizers.
//
// # Pods
//
// Each pod is created from the Job's template with the Job as controller
// owner and the finalizer batch.kubernetes.io/job-tracking. The
// controller keeps min(parallelism, completions - succeeded) pods active
// (parallelism until the first success when completions is unset),
// creating them in slow-start batches, deleting the surplus (not-ready
// and unscheduled ones first), and waiting before replacing failed pods
// with an exponential back-off (10 s doubled per consecutive failure, at
// most 6 min; WithPodFailureBackoff changes it). In Indexed completion
// mode each pod gets a completion index (annotation and label
// batch.kubernetes.io/job-completion-index, hostname <job>-<index>,
// generateName <job>-<index>-, env JOB_COMPLETION_INDEX), the lowest
// missing indexes are created first, and status.completedIndexes lists
// the indexes done.
//
// # Counting (crash-safe, as upstream)
//
// A finished pod still holding the finalizer is first written into
// status.uncountedTerminatedPods (succeeded or failed; a pod deleted
// before it succeeded counts as failed), then its finalizer is removed,
// then it moves from the uncounted list into status.succeeded or
// status.failed. A pod is thus counted exactly once even if the
// controller stops between any two steps, and no finished pod disappears
// before it is counted. Pods whose Job is gone or finished lose the
// finalizer too.
//
// # Finishing
//
// A Job fails when status.failed exceeds backoffLimit (reason
// BackoffLimitExceeded; for restartPolicy OnFailure, when its containers
// restarted backoffLimit times) or when it ran longer than
// activeDeadlineSeconds (DeadlineExceeded): it gets the interim condition
// FailureTarget, its active pods are deleted, and once none is left it
// gets Failed (Warning event with the reason). It succeeds when enough
// pods succeeded (completions, or one with completions unset) and none is
// active: SuccessCriteriaMet (reason CompletionsReached), then Complete
// with status.completionTime (event Completed). status.startTime is set
// when a Job first runs; active, ready and terminating count its pods.
//
// spec.suspend deletes the active pods and sets the Suspended condition
// (event Suspended); resuming sets it False (event Resumed) and restarts
// the activeDeadlineSeconds clock.
//
// # TTL after finished
//
// This package also does the TTL-after-finished controller's work: a
// finished Job with ttlSecondsAfterFinished is deleted (foreground
// propagation, so its pods go first) that many seconds after it
// finished (completionTime, or the Failed condition's time).
//
// Jobs whose spec.managedBy names another controller are left alone.
package job
