// Package cronjob is the CronJob controller: it creates a Job from a
// CronJob's jobTemplate at each time its schedule names, as upstream's
// CronJob controller (v2) does.
//
// For each CronJob it:
//
//   - reconciles status.active with the Jobs it controls (controller
//     owner reference): finished Jobs leave the list (event
//     SawCompletedJob), vanished ones too (MissingJob), and the completion
//     time of the newest successful Job becomes status.lastSuccessfulTime;
//   - finds the most recent scheduled time not yet run, counted from
//     status.lastScheduleTime (or the creation time), in spec.timeZone
//     (the controller's local zone when unset), and skips it when it is
//     older than startingDeadlineSeconds (MissSchedule), when the CronJob
//     is suspended, or when concurrencyPolicy Forbid meets a running Job
//     (JobAlreadyActive); Replace deletes the running Jobs first;
//   - creates the Job "<cronjob>-<scheduled time in Unix minutes>", owned by
//     the CronJob, with the template's labels and annotations plus
//     batch.kubernetes.io/cronjob-scheduled-timestamp; the deterministic
//     name keeps a restarted controller from running one time twice;
//   - deletes the oldest finished Jobs beyond successfulJobsHistoryLimit
//     and failedJobsHistoryLimit (background propagation);
//   - requeues itself for the next scheduled time.
//
// The clock is injectable (WithClock), and drives the work queue's delays
// too, so tests step through minutes without waiting for them.
// ParseSchedule is the controller's own cron parser.
package cronjob
