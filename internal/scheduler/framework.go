package scheduler

import (
	"fmt"
	"sync"

	corev1 "k8s.io/api/core/v1"
)

// Plugin is one named rule of the decision.
type Plugin interface {
	// Name is the plugin's name as upstream's default profile spells it
	// (e.g. "NodeResourcesFit"); statuses carry it.
	Name() string
}

// PreFilterPlugin runs once per decision, before any node is looked at.
// It may compute what its Filter needs (stored in the Cycle) or reject
// the pod outright (e.g. a PVC that does not exist), which then applies to
// every node.
type PreFilterPlugin interface {
	Plugin
	PreFilter(c *Cycle) *Status
}

// FilterPlugin tells whether a node can take the pod. It is called for
// many nodes in turn and must only read the node and the Cycle.
type FilterPlugin interface {
	Plugin
	Filter(c *Cycle, node *NodeInfo) *Status
}

// ScorePlugin ranks the nodes that passed every filter; higher is better.
// Unless the plugin also implements ScoreNormalizer, its scores must lie
// in [0, MaxNodeScore].
type ScorePlugin interface {
	Plugin
	Score(c *Cycle, node *NodeInfo) int64
}

// PreScorePlugin prepares a ScorePlugin once per decision, given the
// feasible nodes.
type PreScorePlugin interface {
	Plugin
	PreScore(c *Cycle, feasible []*NodeInfo)
}

// ScoreNormalizer rescales a plugin's raw scores (one per feasible node,
// in place) to [0, MaxNodeScore].
type ScoreNormalizer interface {
	NormalizeScores(c *Cycle, scores []int64)
}

// reserver is implemented by plugins that have something to say about the
// chosen node (volume binding: the claims to provision there).
type reserver interface {
	reserve(c *Cycle, node *NodeInfo, r *Result)
}

// MaxNodeScore is the best score a plugin gives a node.
const MaxNodeScore int64 = 100

// Cycle is the state of one decision for one pod: the pod, what was
// computed of it once, the cluster State, and what the plugins computed
// in PreFilter/PreScore (or on first use) for their Filter/Score. It is
// used by one goroutine.
type Cycle struct {
	Pod     *corev1.Pod
	PodInfo *PodInfo
	State   State

	// Per-decision data of the plugins, in typed fields: Filter and
	// Score run once per node, so a map lookup each time would cost more
	// than the checks themselves.
	nodeAffinity *nodeAffinityState
	interPod     *interPodState
	volumes      *volumeState
	// spread are selector spreading's scores, in the order PreScore got
	// the nodes; spreadNext is the next one Score expects.
	spread     []spreadScore
	spreadNext int
	// scratch are working slices reused across decisions; nil in a
	// Cycle made outside ScheduleInfo.
	scratch *scratch
}

// scratch holds the slices a decision works in, so that a thousand
// decisions a second do not each allocate them anew.
type scratch struct {
	feasible       []*NodeInfo
	totals, scores []int64
	counts         []int
	spread         []spreadScore
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

// release clears what the slices point to (old snapshots) and returns
// sc to the pool.
func (sc *scratch) release() {
	clear(sc.feasible[:cap(sc.feasible)])
	clear(sc.spread[:cap(sc.spread)])
	sc.feasible, sc.spread = sc.feasible[:0], sc.spread[:0]
	scratchPool.Put(sc)
}

// ints64 returns s resized to n zeros, reusing its array when it can.
func ints64(s []int64, n int) []int64 {
	if cap(s) < n {
		return make([]int64, n)
	}
	s = s[:n]
	clear(s)
	return s
}

// WeightedScorer is a score plugin with its weight in the total.
type WeightedScorer struct {
	Plugin ScorePlugin
	Weight int64
}

// Profile is an ordered set of plugins: the decision runs the
// pre-filters, then the filters node by node (the first failing filter
// decides a node's status, as upstream), then the scorers on the
// feasible nodes.
type Profile struct {
	PreFilters []PreFilterPlugin
	Filters    []FilterPlugin
	Scorers    []WeightedScorer
	// PercentageOfNodesToScore bounds the search: once this share of the
	// nodes (at least 100) is found feasible, the rest are not looked at.
	// 0 means upstream's adaptive default (50% minus 1% per 125 nodes,
	// at least 5%); 100 looks at every node.
	PercentageOfNodesToScore int
}

// DefaultProfile returns the plugins of `navarch server`'s scheduler, in
// upstream's order, with upstream's score weights.
func DefaultProfile() *Profile {
	fit := nodeResourcesFit{}
	taints := taintToleration{}
	affinity := nodeAffinity{}
	interPod := interPodAffinity{}
	volumes := volumeBinding{}
	return &Profile{
		PreFilters: []PreFilterPlugin{volumes, interPod},
		Filters: []FilterPlugin{
			nodeUnschedulable{}, taints, affinity, nodePorts{}, fit, volumes, interPod,
		},
		Scorers: []WeightedScorer{
			{Plugin: fit, Weight: 1},
			{Plugin: affinity, Weight: 2},
			{Plugin: interPod, Weight: 2},
			{Plugin: taints, Weight: 3},
			{Plugin: selectorSpread{}, Weight: 2},
		},
	}
}

// Result is the outcome of one decision.
type Result struct {
	// Node is the chosen node, "" when Err is set.
	Node string
	// Err is a *FitError when no node fits, another error when a plugin
	// could not decide.
	Err error
	// Evaluated is how many nodes were filtered; the next decision should
	// start after them so that every node gets its turn.
	Evaluated int
	// Feasible is how many of them passed every filter.
	Feasible int
	// DelayedClaims are the pod's unbound WaitForFirstConsumer claims: the
	// caller annotates them with the chosen node and binds the pod only
	// once they are bound.
	DelayedClaims []*corev1.PersistentVolumeClaim
}

// Schedule decides where pod goes. It reads state only. Filtering starts
// at node index start (mod the number of nodes); ties between the best
// nodes go to the first one in that order.
func (p *Profile) Schedule(pod *corev1.Pod, state State, start int) Result {
	return p.ScheduleInfo(NewPodInfo(pod), state, start)
}

// ScheduleInfo is Schedule for a pod whose PodInfo is already computed.
func (p *Profile) ScheduleInfo(pi *PodInfo, state State, start int) Result {
	pod := pi.Pod
	if pi.parseErr != nil {
		return Result{Err: pi.parseErr}
	}
	sc := scratchPool.Get().(*scratch)
	defer sc.release()
	c := &Cycle{Pod: pod, PodInfo: pi, State: state, scratch: sc}
	nodes := state.Nodes()
	n := len(nodes)
	neverPreempts := pod.Spec.PreemptionPolicy != nil && *pod.Spec.PreemptionPolicy == corev1.PreemptNever
	for _, pf := range p.PreFilters {
		st := pf.PreFilter(c).withPlugin(pf.Name())
		switch st.Code() {
		case Success:
		case Error:
			return Result{Err: fmt.Errorf("scheduler: %s: %s", pf.Name(), st.Message())}
		default:
			return Result{Err: &FitError{NumAllNodes: n, PreFilter: st, NeverPreempts: neverPreempts}}
		}
	}
	if n == 0 {
		return Result{Err: &FitError{}}
	}
	want := numFeasibleNodesToFind(n, p.PercentageOfNodesToScore)
	if start < 0 {
		start = 0
	}
	feasible := sc.feasible[:0]
	defer func() { sc.feasible = feasible }()
	var statuses map[string]*Status
	evaluated := 0
	for i := 0; i < n && len(feasible) < want; i++ {
		ni := nodes[(start+i)%n]
		evaluated++
		st := p.filter(c, ni)
		switch st.Code() {
		case Success:
			feasible = append(feasible, ni)
		case Error:
			return Result{Err: fmt.Errorf("scheduler: %s on node %s: %s", st.Plugin(), ni.Node().Name, st.Message()), Evaluated: evaluated}
		default:
			if statuses == nil {
				statuses = map[string]*Status{}
			}
			statuses[ni.Node().Name] = st
		}
	}
	if len(feasible) == 0 {
		return Result{Err: &FitError{NumAllNodes: n, NodeStatuses: statuses, NeverPreempts: neverPreempts}, Evaluated: evaluated}
	}
	best := feasible[0]
	if len(feasible) > 1 {
		scores := p.prioritize(c, feasible)
		bestScore := scores[0]
		for i, s := range scores {
			if s > bestScore {
				best, bestScore = feasible[i], s
			}
		}
	}
	r := Result{Node: best.Node().Name, Evaluated: evaluated, Feasible: len(feasible)}
	for _, f := range p.Filters {
		if rv, ok := f.(reserver); ok {
			rv.reserve(c, best, &r)
		}
	}
	return r
}

// filter runs the filters on one node and returns the first failure.
func (p *Profile) filter(c *Cycle, ni *NodeInfo) *Status {
	for _, f := range p.Filters {
		if st := f.Filter(c, ni); !st.IsSuccess() {
			return st.withPlugin(f.Name())
		}
	}
	return nil
}

// prioritize returns the weighted total score of each feasible node.
func (p *Profile) prioritize(c *Cycle, feasible []*NodeInfo) []int64 {
	var totals, scores []int64
	if c.scratch != nil {
		c.scratch.totals = ints64(c.scratch.totals, len(feasible))
		c.scratch.scores = ints64(c.scratch.scores, len(feasible))
		totals, scores = c.scratch.totals, c.scratch.scores
	} else {
		totals, scores = make([]int64, len(feasible)), make([]int64, len(feasible))
	}
	for _, ws := range p.Scorers {
		if ps, ok := ws.Plugin.(PreScorePlugin); ok {
			ps.PreScore(c, feasible)
		}
		for i, ni := range feasible {
			scores[i] = ws.Plugin.Score(c, ni)
		}
		if norm, ok := ws.Plugin.(ScoreNormalizer); ok {
			norm.NormalizeScores(c, scores)
		}
		for i, s := range scores {
			totals[i] += s * ws.Weight
		}
	}
	return totals
}

// Search bounds, as upstream's defaults.
const (
	minFeasibleNodesToFind           = 100
	minFeasibleNodesPercentageToFind = 5
)

// numFeasibleNodesToFind returns how many feasible nodes to look for among
// n: all of small clusters, a shrinking share of large ones.
func numFeasibleNodesToFind(n, percentage int) int {
	if n < minFeasibleNodesToFind || percentage >= 100 {
		return n
	}
	if percentage <= 0 {
		percentage = 50 - n/125
		if percentage < minFeasibleNodesPercentageToFind {
			percentage = minFeasibleNodesPercentageToFind
		}
	}
	num := n * percentage / 100
	if num < minFeasibleNodesToFind {
		return minFeasibleNodesToFind
	}
	return num
}

// normalizeToMax rescales scores so the highest becomes MaxNodeScore
// (reverse: the lowest does). All zero stays all zero (or all max when
// reversed).
func normalizeToMax(scores []int64, reverse bool) {
	var highest int64
	for _, s := range scores {
		if s > highest {
			highest = s
		}
	}
	for i, s := range scores {
		switch {
		case highest == 0 && reverse:
			scores[i] = MaxNodeScore
		case highest == 0:
			scores[i] = 0
		case reverse:
			scores[i] = MaxNodeScore - s*MaxNodeScore/highest
		default:
			scores[i] = s * MaxNodeScore / highest
		}
	}
}
