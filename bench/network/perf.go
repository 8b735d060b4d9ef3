package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// This file measures who takes the machine's cores during a target's
// load (the load generator, the backend pods) and, with -perf-stat,
// counts kernel events (syscalls by kind, context switches...) of the
// proxy under load with `perf stat`, so that the ingress and nginx can be
// compared per request.

// podCPU is the cpu seconds of the backend pods' processes (the web
// program; the idle client pod runs it too and adds next to nothing).
func podCPU() float64 {
	total := 0.0
	for _, pid := range pidsByExe("web") {
		total += cpuSeconds(pid)
	}
	return total
}

// pidsByExe lists the processes whose executable is named name.
func pidsByExe(name string) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe"))
		if err == nil && filepath.Base(exe) == name {
			pids = append(pids, pid)
		}
	}
	return pids
}

// machineBusy is the cpu seconds all cores spent running anything (not
// idle, waiting for I/O or stolen by the hypervisor), from /proc/stat.
func machineBusy() float64 {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(data), "\n")
	f := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal ...
	if len(f) < 9 || f[0] != "cpu" {
		return 0
	}
	busy := 0.0
	for i, v := range f[1:9] {
		if i == 3 || i == 4 || i == 7 { // idle, iowait, steal
			continue
		}
		x, _ := strconv.ParseFloat(v, 64)
		busy += x
	}
	return busy / 100 // USER_HZ
}

// runWait is the seconds the threads of the processes pids spent
// runnable but waiting for a core (the second field of each thread's
// /proc/PID/task/TID/schedstat).
func runWait(pids []int) float64 {
	total := 0.0
	for _, pid := range pids {
		tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
		if err != nil {
			continue
		}
		for _, t := range tasks {
			data, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/schedstat", pid, t.Name()))
			if err != nil {
				continue
			}
			if f := strings.Fields(string(data)); len(f) >= 2 {
				ns, _ := strconv.ParseFloat(f[1], 64)
				total += ns / 1e9
			}
		}
	}
	return total
}

// selfCPU is this process's cpu seconds: the load generator's.
func selfCPU() float64 { return cpuSeconds(os.Getpid()) }

// proxyPIDs are the processes serving target name: the server's for the
// ingress, nginx's workers for nginx; nil for the others.
func (e *env) proxyPIDs(name string) []int {
	switch {
	case strings.HasPrefix(name, "ingress"):
		return []int{e.server.Process.Pid}
	case name == "nginx" && e.nginx != nil:
		pid := e.nginx.Process.Pid
		pids := []int{pid}
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
		if err == nil {
			for _, f := range strings.Fields(string(data)) {
				if child, err := strconv.Atoi(f); err == nil {
					pids = append(pids, child)
				}
			}
		}
		return pids
	}
	return nil
}

// perfCounts is what one `perf stat` run counted, by event.
type perfCounts map[string]float64

// perfStat counts the events that args (perf stat's event options, split
// at spaces: "-e EVENT,... [--filter F]...") select, of the processes pids
// (all their threads), for d.
func perfStat(ctx context.Context, args string, pids []int, d time.Duration) (perfCounts, error) {
	ids := make([]string, len(pids))
	for i, p := range pids {
		ids[i] = strconv.Itoa(p)
	}
	argv := append([]string{"stat", "-x", ","}, strings.Fields(args)...)
	argv = append(argv, "-p", strings.Join(ids, ","), "--", "sleep", strconv.FormatFloat(d.Seconds(), 'f', 3, 64))
	cmd := exec.CommandContext(ctx, "perf", argv...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("perf stat: %w: %s", err, stderr.String())
	}
	counts := perfCounts{}
	for _, line := range strings.Split(stderr.String(), "\n") {
		// value,unit,event,...
		f := strings.Split(line, ",")
		if len(f) < 3 {
			continue
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			continue // "<not counted>" and comments
		}
		counts[f[2]] += v
	}
	return counts, nil
}

// perRequest formats counts divided by requests, largest first.
func (c perfCounts) perRequest(requests int) string {
	type kv struct {
		k string
		v float64
	}
	var all []kv
	for k, v := range c {
		k = strings.TrimPrefix(k, "syscalls:sys_enter_")
		k = strings.Replace(k, "syscalls:sys_exit_", "exit_", 1)
		all = append(all, kv{k, v / float64(requests)})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].v > all[j].v })
	parts := make([]string, 0, len(all))
	for _, e := range all {
		if e.v < 0.005 {
			continue
		}
		parts = append(parts, fmt.Sprintf("%s %.2f", e.k, e.v))
	}
	return strings.Join(parts, ", ")
}

// perfRecord samples the processes pids (call graphs, kernel included)
// for d into file, for `perf report -i file`.
func perfRecord(ctx context.Context, file string, pids []int, d time.Duration) error {
	ids := make([]string, len(pids))
	for i, p := range pids {
		ids[i] = strconv.Itoa(p)
	}
	cmd := exec.CommandContext(ctx, "perf", "record", "-q", "-g", "-F", "999", "-o", file, "-p", strings.Join(ids, ","),
		"--", "sleep", strconv.FormatFloat(d.Seconds(), 'f', 3, 64))
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("perf record: %w: %s", err, out)
	}
	return nil
}
