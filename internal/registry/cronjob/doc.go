// Package cronjob is the registry entry of batch/v1 CronJob: its defaults
// (concurrencyPolicy Allow, suspend false, history limits 3 and 1, pod
// template defaults), validation including the cron schedule (five fields
// or an @hourly-style descriptor, no TZ= prefix) and the time zone, the
// split between spec and status, and the kubectl get columns.
//
// The time zone database is embedded (time/tzdata), so spec.timeZone
// validates the same on hosts without /usr/share/zoneinfo.
package cronjob
