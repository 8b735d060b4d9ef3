package scheduler

import (
	"fmt"
	"sort"
	"strings"
)

// Code is the outcome of one plugin for one pod (and, for filters, one
// node).
type Code int

const (
	// Success: the plugin has no objection.
	Success Code = iota
	// Unschedulable: the node does not fit now, but evicting pods from it
	// (preemption) could make it fit, e.g. too little free cpu.
	Unschedulable
	// UnschedulableAndUnresolvable: the node cannot fit whatever runs on
	// it, e.g. an untolerated taint; preemption would not help.
	UnschedulableAndUnresolvable
	// Error: the plugin could not decide (bad input, missing state).
	Error
)

// String returns the code's name as upstream's framework spells it.
func (c Code) String() string {
	switch c {
	case Success:
		return "Success"
	case Unschedulable:
		return "Unschedulable"
	case UnschedulableAndUnresolvable:
		return "UnschedulableAndUnresolvable"
	case Error:
		return "Error"
	}
	return fmt.Sprintf("Code(%d)", int(c))
}

// Status is a plugin's verdict: a code, the reasons users read in the
// FailedScheduling event, and the name of the plugin that gave it. A nil
// *Status means Success.
type Status struct {
	code    Code
	reasons []string
	plugin  string
}

// NewStatus returns a status with the given code and reasons.
func NewStatus(code Code, reasons ...string) *Status {
	return &Status{code: code, reasons: reasons}
}

// Code returns the status code; Success for nil.
func (s *Status) Code() Code {
	if s == nil {
		return Success
	}
	return s.code
}

// IsSuccess tells whether the status lets the pod through.
func (s *Status) IsSuccess() bool { return s.Code() == Success }

// Reasons returns the user-facing reasons, one per failed check.
func (s *Status) Reasons() []string {
	if s == nil {
		return nil
	}
	return s.reasons
}

// Plugin names the plugin that returned the status ("" for success).
func (s *Status) Plugin() string {
	if s == nil {
		return ""
	}
	return s.plugin
}

// Message joins the reasons.
func (s *Status) Message() string {
	if s == nil {
		return ""
	}
	return strings.Join(s.reasons, ", ")
}

// withPlugin records which plugin produced s and returns it.
func (s *Status) withPlugin(name string) *Status {
	if s != nil {
		s.plugin = name
	}
	return s
}

// String describes the status for logs and test failures.
func (s *Status) String() string {
	if s == nil {
		return "Success"
	}
	return fmt.Sprintf("%s(%s): %s", s.code, s.plugin, s.Message())
}

// Messages of the preemption step. Navarch never preempts; it reports what
// upstream's default preemption reports when it finds no victims.
const (
	preemptionNotHelpful = "Preemption is not helpful for scheduling"
	preemptionNoVictims  = "No preemption victims found for incoming pod"
	preemptionNever      = "not eligible due to preemptionPolicy=Never."
)

// noNodesMsg is the message when the cluster has no node at all.
const noNodesMsg = "no nodes available to schedule pods"

// FitError says why no node fits a pod. Its Error() is the message of the
// FailedScheduling event and of the PodScheduled=False condition, in
// upstream's form:
//
//	0/3 nodes are available: 1 node(s) had untolerated taint {k: v}, 2 Insufficient cpu.
//	preemption: 0/3 nodes are available: 1 Preemption is not helpful for scheduling,
//	2 No preemption victims found for incoming pod.
//
// (one line in reality).
type FitError struct {
	// NumAllNodes is how many nodes the decision looked at.
	NumAllNodes int
	// PreFilter is set when a pre-filter rejected the pod before any
	// node was looked at (e.g. a missing PVC); it then applies to every
	// node.
	PreFilter *Status
	// NodeStatuses holds the failed filter of each node.
	NodeStatuses map[string]*Status
	// NeverPreempts is set for pods whose preemptionPolicy is Never.
	NeverPreempts bool
}

// Error renders the message.
func (f *FitError) Error() string {
	if f.NumAllNodes == 0 && f.PreFilter == nil {
		return noNodesMsg
	}
	var b strings.Builder
	fmt.Fprintf(&b, "0/%d nodes are available:", f.NumAllNodes)
	if f.PreFilter != nil {
		fmt.Fprintf(&b, " %s.", f.PreFilter.Message())
	} else {
		counts := map[string]int{}
		for _, s := range f.NodeStatuses {
			for _, r := range s.Reasons() {
				counts[r]++
			}
		}
		fmt.Fprintf(&b, " %s.", histogram(counts))
	}
	fmt.Fprintf(&b, " %s", f.preemptionMessage())
	return b.String()
}

// preemptionMessage is what upstream's preemption step adds: why evicting
// pods would not help on each node.
func (f *FitError) preemptionMessage() string {
	if f.NeverPreempts {
		return "preemption: " + preemptionNever
	}
	counts := map[string]int{}
	if f.PreFilter != nil {
		counts[preemptionNotHelpful] = f.NumAllNodes
	} else {
		for _, s := range f.NodeStatuses {
			if s.Code() == UnschedulableAndUnresolvable {
				counts[preemptionNotHelpful]++
			} else {
				counts[preemptionNoVictims]++
			}
		}
	}
	return fmt.Sprintf("preemption: 0/%d nodes are available: %s.", f.NumAllNodes, histogram(counts))
}

// UnschedulablePlugins names the plugins that rejected the pod somewhere:
// only cluster events that concern them can make it schedulable.
func (f *FitError) UnschedulablePlugins() []string {
	seen := map[string]bool{}
	if f.PreFilter != nil {
		seen[f.PreFilter.Plugin()] = true
	}
	for _, s := range f.NodeStatuses {
		seen[s.Plugin()] = true
	}
	out := make([]string, 0, len(seen))
	for p := range seen {
		if p != "" {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}

// histogram renders "2 reason a, 1 reason b" sorted as strings, as
// upstream does (so "10 x" sorts before "2 y").
func histogram(counts map[string]int) string {
	parts := make([]string, 0, len(counts))
	for reason, n := range counts {
		parts = append(parts, fmt.Sprintf("%d %s", n, reason))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}
