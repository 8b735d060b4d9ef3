package e2e

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/navarch/navarch/test/framework"
)

// TestJobsAndCronJobs runs Jobs and a CronJob on the server's node agent
// (real containerd) and checks them through kubectl as a user sees them:
// completions and parallelism, backoffLimit, activeDeadlineSeconds,
// ttlSecondsAfterFinished, a scheduled and a manual CronJob run, suspend.
func TestJobsAndCronJobs(t *testing.T) {
	requireRuntime(t)
	c := startAgentCluster(t)
	buildCourseImages(t, c)
	t.Cleanup(func() {
		// The cluster's own cleanup does not delete CronJobs, which would
		// keep creating Jobs meanwhile.
		_, _, _ = c.Kubectl(t, "delete", "cronjobs,jobs", "--all", "--wait=true", "--timeout=60s")
	})
	k := func(t *testing.T, args ...string) string { t.Helper(); return c.MustKubectl(t, args...) }
	apply := func(t *testing.T, manifest string) {
		t.Helper()
		if out, errOut, err := c.KubectlWithInput(t, manifest, "apply", "-f", "-"); err != nil {
			t.Fatalf("kubectl apply: %v\n%s%s", err, out, errOut)
		}
	}
	// job is a Job manifest: one container of the tools image running
	// command, restartPolicy Never, plus the spec fields given. The short
	// grace period: sleep as PID 1 ignores SIGTERM, and a deleted pod
	// would otherwise stay 30 s.
	job := func(name, command string, fields ...string) string {
		return `
apiVersion: batch/v1
kind: Job
metadata: {name: ` + name + `}
spec:
  ` + strings.Join(fields, "\n  ") + `
  template:
    spec:
      restartPolicy: Never
      terminationGracePeriodSeconds: 1
      containers: [{name: work, image: ` + toolsImage + `, command: ` + command + `}]
`
	}
	pods := func(t *testing.T, jobName string) []corev1.Pod {
		t.Helper()
		var list corev1.PodList
		out := k(t, "get", "pods", "-l", "batch.kubernetes.io/job-name="+jobName, "-o", "json")
		if err := json.Unmarshal([]byte(out), &list); err != nil {
			t.Fatalf("pods of job %s: %v\n%s", jobName, err, out)
		}
		return list.Items
	}
	condition := func(t *testing.T, jobName, condType, field string) string {
		t.Helper()
		return jsonpath(t, c, `{.status.conditions[?(@.type=="`+condType+`")].`+field+`}`, "job", jobName)
	}
	wait := func(t *testing.T, jobName, cond string) {
		t.Helper()
		if out, errOut, err := c.Kubectl(t, "wait", "--for=condition="+cond, "job/"+jobName, "--timeout=90s"); err != nil {
			describe, _, _ := c.Kubectl(t, "describe", "job", jobName)
			t.Fatalf("kubectl wait --for=condition=%s job/%s: %v\n%s%s\n%s", cond, jobName, err, out, errOut, describe)
		}
	}

	// The subtests run in parallel: the CronJob's first run alone waits
	// for the next minute.
	t.Run("group", func(t *testing.T) {
		t.Run("completions 3 parallelism 2", func(t *testing.T) {
			t.Parallel()
			apply(t, job("three", `[sh, -c, "echo job-done"]`, "completions: 3", "parallelism: 2"))
			wait(t, "three", "complete")
			if got := jsonpath(t, c, "{.status.succeeded}", "job", "three"); got != "3" {
				t.Errorf(".status.succeeded = %q, want 3", got)
			}
			out := k(t, "get", "job", "three")
			if got := column(out, "COMPLETIONS"); got != "3/3" {
				t.Errorf("kubectl get job: COMPLETIONS %q, want 3/3:\n%s", got, out)
			}
			if out := k(t, "logs", "job/three"); strings.TrimSpace(out) != "job-done" {
				t.Errorf("kubectl logs job/three = %q, want job-done", out)
			}
			ps := pods(t, "three")
			if len(ps) != 3 {
				t.Errorf("job three has %d pods, want 3 (one per completion)", len(ps))
			}
			for _, p := range ps {
				if p.Labels["job-name"] != "three" || p.Labels["batch.kubernetes.io/controller-uid"] == "" {
					t.Errorf("pod %s labels %v, want job-name=three and the controller-uid", p.Name, p.Labels)
				}
				if p.Status.Phase != corev1.PodSucceeded {
					t.Errorf("pod %s is %s, want Succeeded", p.Name, p.Status.Phase)
				}
			}
		})

		t.Run("backoffLimit exceeded", func(t *testing.T) {
			t.Parallel()
			apply(t, job("failing", `[sh, -c, "exit 1"]`, "backoffLimit: 1"))
			wait(t, "failing", "failed")
			if got := condition(t, "failing", "Failed", "reason"); got != "BackoffLimitExceeded" {
				t.Errorf("Failed reason %q, want BackoffLimitExceeded", got)
			}
			if got := jsonpath(t, c, "{.status.failed}", "job", "failing"); got != "2" {
				t.Errorf(".status.failed = %q, want 2 (backoffLimit 1 allows one retry)", got)
			}
			if ps := pods(t, "failing"); len(ps) != 2 {
				t.Errorf("job failing has %d pods, want 2", len(ps))
			}
		})

		t.Run("activeDeadlineSeconds", func(t *testing.T) {
			t.Parallel()
			apply(t, job("deadline", `[sleep, "300"]`, "activeDeadlineSeconds: 5"))
			wait(t, "deadline", "failed")
			if got := condition(t, "deadline", "Failed", "reason"); got != "DeadlineExceeded" {
				t.Errorf("Failed reason %q, want DeadlineExceeded", got)
			}
			started, err := time.Parse(time.RFC3339, jsonpath(t, c, "{.status.startTime}", "job", "deadline"))
			if err != nil {
				t.Fatalf("startTime: %v", err)
			}
			failed, err := time.Parse(time.RFC3339, condition(t, "deadline", "Failed", "lastTransitionTime"))
			if err != nil {
				t.Fatalf("Failed lastTransitionTime: %v", err)
			}
			// Timestamps have whole seconds.
			if d := failed.Sub(started); d < 4*time.Second || d > 60*time.Second {
				t.Errorf("failed %v after it started, want about the 5 s deadline", d)
			}
			if got := jsonpath(t, c, "{.status.active}", "job", "deadline"); got != "" && got != "0" {
				t.Errorf(".status.active = %q after the deadline, want 0", got)
			}
			for _, p := range pods(t, "deadline") {
				if p.DeletionTimestamp == nil {
					t.Errorf("pod %s (%s) still runs past the deadline", p.Name, p.Status.Phase)
				}
			}
			framework.WaitFor(t, 60*time.Second, "the deadline job's pods gone", func() (bool, error) {
				return len(pods(t, "deadline")) == 0, nil
			})
		})

		t.Run("ttlSecondsAfterFinished 0", func(t *testing.T) {
			t.Parallel()
			apply(t, job("ephemeral", `[sh, -c, "echo bye"]`, "ttlSecondsAfterFinished: 0"))
			framework.WaitFor(t, 90*time.Second, "job ephemeral deleted", func() (bool, error) {
				_, errOut, err := c.Kubectl(t, "get", "job", "ephemeral")
				return err != nil && strings.Contains(errOut, "NotFound"), nil
			})
			// Deleted because it completed, not before.
			if got := jsonpath(t, c, "{.items[*].reason}", "events",
				"--field-selector", "involvedObject.kind=Job,involvedObject.name=ephemeral"); !strings.Contains(got, "Completed") {
				t.Errorf("events of job ephemeral: %q, want Completed", got)
			}
			framework.WaitFor(t, 60*time.Second, "job ephemeral's pods gone", func() (bool, error) {
				return len(pods(t, "ephemeral")) == 0, nil
			})
		})

		t.Run("CronJob", func(t *testing.T) {
			t.Parallel()
			apply(t, `
apiVersion: batch/v1
kind: CronJob
metadata: {name: minutely}
spec:
  schedule: "* * * * *"
  successfulJobsHistoryLimit: 1
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          containers: [{name: work, image: `+toolsImage+`, command: [echo, cron-done]}]
`)
			var scheduled string
			framework.WaitFor(t, 2*time.Minute, "a Job of CronJob minutely", func() (bool, error) {
				if jobs := ownedJobs(t, c, "minutely"); len(jobs) > 0 {
					scheduled = jobs[0].Name
					return true, nil
				}
				return false, nil
			})
			wait(t, scheduled, "complete")
			waitNonEmpty := func(path string) string {
				t.Helper()
				var got string
				framework.WaitFor(t, 30*time.Second, "cronjob minutely "+path, func() (bool, error) {
					got = jsonpath(t, c, path, "cronjob", "minutely")
					return got != "", nil
				})
				return got
			}
			last, err := time.Parse(time.RFC3339, waitNonEmpty("{.status.lastScheduleTime}"))
			if err != nil {
				t.Fatalf("lastScheduleTime: %v", err)
			}
			waitNonEmpty("{.status.lastSuccessfulTime}")
			// Upstream names a scheduled Job after its time in minutes.
			if last.Second() != 0 || scheduled != "minutely-"+strconv.FormatInt(last.Unix()/60, 10) {
				t.Errorf("lastScheduleTime %v and Job %s: want a whole minute and the Job named after it", last, scheduled)
			}

			k(t, "create", "job", "manual", "--from=cronjob/minutely")
			wait(t, "manual", "complete")
			if out := k(t, "logs", "job/manual"); strings.TrimSpace(out) != "cron-done" {
				t.Errorf("kubectl logs job/manual = %q, want cron-done", out)
			}
			// The manual Job is owned by the CronJob too, so
			// successfulJobsHistoryLimit 1 keeps only the newest.
			framework.WaitFor(t, 30*time.Second, "one successful Job kept by CronJob minutely", func() (bool, error) {
				done := 0
				for _, j := range ownedJobs(t, c, "minutely") {
					if j.Status.Succeeded > 0 {
						done++
					}
				}
				return done == 1, nil
			})

			k(t, "patch", "cronjob", "minutely", "-p", `{"spec":{"suspend":true}}`)
			if got := jsonpath(t, c, "{.spec.suspend}", "cronjob", "minutely"); got != "true" {
				t.Errorf(".spec.suspend = %q after the patch, want true", got)
			}
		})
	})
}

// ownedJobs lists the Jobs a CronJob controls.
func ownedJobs(t *testing.T, c *framework.Cluster, cronJob string) []batchv1.Job {
	t.Helper()
	var list batchv1.JobList
	out := c.MustKubectl(t, "get", "jobs", "-o", "json")
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("jobs: %v\n%s", err, out)
	}
	var owned []batchv1.Job
	for _, j := range list.Items {
		for _, ref := range j.OwnerReferences {
			if ref.Kind == "CronJob" && ref.Name == cronJob && ref.Controller != nil && *ref.Controller {
				owned = append(owned, j)
			}
		}
	}
	return owned
}

// column is the value in the named column of the first row of a kubectl
// table.
func column(table, name string) string {
	lines := strings.Split(strings.TrimSpace(table), "\n")
	if len(lines) < 2 {
		return ""
	}
	header, row := strings.Fields(lines[0]), strings.Fields(lines[1])
	for i, h := range header {
		if h == name && i < len(row) {
			return row[i]
		}
	}
	return ""
}
