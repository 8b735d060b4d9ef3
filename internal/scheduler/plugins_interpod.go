package scheduler

import (
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/sets"
)

// Reasons of interPodAffinity, as upstream words them.
const (
	reasonPodAffinity                = "node(s) didn't match pod affinity rules"
	reasonPodAntiAffinity            = "node(s) didn't match pod anti-affinity rules"
	reasonExistingAntiAffinity       = "node(s) didn't satisfy existing pods anti-affinity rules"
	hardPodAffinityWeight      int64 = 1
)

// topologyPair is one topology domain: a node label key and its value
// (kubernetes.io/hostname=node-1 is one node, topology.kubernetes.io/zone=a
// a zone).
type topologyPair struct{ key, value string }

// interPodAffinity enforces required pod affinity and anti-affinity (the
// pod's own, and that of pods already bound, which is symmetric) for any
// topology key, and scores the preferred terms of both sides.
type interPodAffinity struct{}

var (
	_ PreFilterPlugin = interPodAffinity{}
	_ FilterPlugin    = interPodAffinity{}
	_ PreScorePlugin  = interPodAffinity{}
	_ ScorePlugin     = interPodAffinity{}
	_ ScoreNormalizer = interPodAffinity{}
)

func (interPodAffinity) Name() string { return nameInterPodAffinity }

// interPodState counts, per topology domain, the bound pods that matter
// to the incoming pod.
type interPodState struct {
	// existingAnti: domains holding a pod whose required anti-affinity
	// selects the incoming pod.
	existingAnti map[topologyPair]int
	// affinity: domains holding a pod that matches every required
	// affinity term of the incoming pod.
	affinity map[topologyPair]int
	// anti: domains holding a pod that a required anti-affinity term of
	// the incoming pod selects.
	anti map[topologyPair]int
	// matchesOwnAffinity: the incoming pod satisfies its own affinity
	// terms, so it may be the first of its group.
	matchesOwnAffinity bool
	// preferred: the preferred-term score of each domain.
	preferred     map[topologyPair]int64
	preferredKeys sets.Set[string]
}

// PreFilter scans the bound pods once for everything Filter needs.
func (p interPodAffinity) PreFilter(c *Cycle) *Status {
	pi := c.PodInfo
	s := &interPodState{}
	nsLabels := c.State.NamespaceLabels
	hasOwnTerms := len(pi.requiredAffinity)+len(pi.requiredAntiAffinity) > 0
	c.interPod = s
	if counter, ok := c.State.(affinityCounter); ok && !hasOwnTerms {
		if _, anti := counter.podsWithAffinity(); anti == 0 {
			return nil
		}
	}
	for _, ni := range c.State.Nodes() {
		nodeLabels := ni.Node().Labels
		for _, existing := range ni.podsWithRequiredAntiAffinity {
			for i := range existing.requiredAntiAffinity {
				t := &existing.requiredAntiAffinity[i]
				if v, ok := nodeLabels[t.topologyKey]; ok && t.matches(c.Pod, nsLabels) {
					s.existingAnti = incr(s.existingAnti, topologyPair{t.topologyKey, v})
				}
			}
		}
		if !hasOwnTerms {
			continue
		}
		for _, existing := range ni.pods {
			if len(pi.requiredAffinity) > 0 && matchesAll(pi.requiredAffinity, existing, nsLabels) {
				for i := range pi.requiredAffinity {
					t := &pi.requiredAffinity[i]
					if v, ok := nodeLabels[t.topologyKey]; ok {
						s.affinity = incr(s.affinity, topologyPair{t.topologyKey, v})
					}
				}
			}
			for i := range pi.requiredAntiAffinity {
				t := &pi.requiredAntiAffinity[i]
				if v, ok := nodeLabels[t.topologyKey]; ok && t.matches(existing.Pod, nsLabels) {
					s.anti = incr(s.anti, topologyPair{t.topologyKey, v})
				}
			}
		}
	}
	s.matchesOwnAffinity = matchesAll(pi.requiredAffinity, pi, nsLabels)
	return nil
}

func matchesAll(terms []affinityTerm, pi *PodInfo, nsLabels func(string) labels.Set) bool {
	for i := range terms {
		if !terms[i].matches(pi.Pod, nsLabels) {
			return false
		}
	}
	return true
}

func incr[K comparable](m map[K]int, k K) map[K]int {
	if m == nil {
		m = map[K]int{}
	}
	m[k]++
	return m
}

func (interPodAffinity) state(c *Cycle) *interPodState {
	if c.interPod == nil {
		c.interPod = &interPodState{}
	}
	return c.interPod
}

func (p interPodAffinity) Filter(c *Cycle, ni *NodeInfo) *Status {
	s := p.state(c)
	pi := c.PodInfo
	if len(pi.requiredAffinity) == 0 && len(pi.requiredAntiAffinity) == 0 && len(s.existingAnti) == 0 {
		// Nothing to check: do not touch the Node (a cache miss on
		// each of hundreds of nodes per decision).
		return nil
	}
	nodeLabels := ni.Node().Labels
	if len(pi.requiredAffinity) > 0 {
		found, hasKeys := true, true
		for i := range pi.requiredAffinity {
			t := &pi.requiredAffinity[i]
			v, ok := nodeLabels[t.topologyKey]
			if !ok {
				hasKeys = false
				found = false
				break
			}
			if s.affinity[topologyPair{t.topologyKey, v}] <= 0 {
				found = false
			}
		}
		// The first pod of a group that selects itself may go anywhere
		// that has the topology keys.
		first := len(s.affinity) == 0 && s.matchesOwnAffinity && hasKeys
		if !found && !first {
			return NewStatus(UnschedulableAndUnresolvable, reasonPodAffinity)
		}
	}
	for i := range pi.requiredAntiAffinity {
		t := &pi.requiredAntiAffinity[i]
		if v, ok := nodeLabels[t.topologyKey]; ok && s.anti[topologyPair{t.topologyKey, v}] > 0 {
			return NewStatus(Unschedulable, reasonPodAntiAffinity)
		}
	}
	if len(s.existingAnti) > 0 {
		for key, value := range nodeLabels {
			if s.existingAnti[topologyPair{key, value}] > 0 {
				return NewStatus(Unschedulable, reasonExistingAntiAffinity)
			}
		}
	}
	return nil
}

// PreScore sums, per topology domain, the weights of the preferred terms
// that hold between the incoming pod and the bound pods, both ways:
// affinity adds, anti-affinity subtracts, and bound pods' required
// affinity towards the incoming pod adds a little.
func (p interPodAffinity) PreScore(c *Cycle, feasible []*NodeInfo) {
	s := p.state(c)
	pi := c.PodInfo
	nsLabels := c.State.NamespaceLabels
	own := len(pi.preferredAffinity)+len(pi.preferredAntiAffinity) > 0
	if counter, ok := c.State.(affinityCounter); ok && !own {
		if withTerms, _ := counter.podsWithAffinity(); withTerms == 0 {
			return
		}
	}
	add := func(key, value string, w int64) {
		if s.preferred == nil {
			s.preferred = map[topologyPair]int64{}
			s.preferredKeys = sets.New[string]()
		}
		s.preferred[topologyPair{key, value}] += w
		s.preferredKeys.Insert(key)
	}
	for _, ni := range c.State.Nodes() {
		nodeLabels := ni.Node().Labels
		pods := ni.podsWithAffinity
		if own {
			pods = ni.pods
		}
		for _, existing := range pods {
			for _, t := range pi.preferredAffinity {
				if v, ok := nodeLabels[t.topologyKey]; ok && t.matches(existing.Pod, nsLabels) {
					add(t.topologyKey, v, t.weight)
				}
			}
			for _, t := range pi.preferredAntiAffinity {
				if v, ok := nodeLabels[t.topologyKey]; ok && t.matches(existing.Pod, nsLabels) {
					add(t.topologyKey, v, -t.weight)
				}
			}
			for _, t := range existing.preferredAffinity {
				if v, ok := nodeLabels[t.topologyKey]; ok && t.matches(c.Pod, nsLabels) {
					add(t.topologyKey, v, t.weight)
				}
			}
			for _, t := range existing.preferredAntiAffinity {
				if v, ok := nodeLabels[t.topologyKey]; ok && t.matches(c.Pod, nsLabels) {
					add(t.topologyKey, v, -t.weight)
				}
			}
			for i := range existing.requiredAffinity {
				t := &existing.requiredAffinity[i]
				if v, ok := nodeLabels[t.topologyKey]; ok && t.matches(c.Pod, nsLabels) {
					add(t.topologyKey, v, hardPodAffinityWeight)
				}
			}
		}
	}
}

func (p interPodAffinity) Score(c *Cycle, ni *NodeInfo) int64 {
	s := p.state(c)
	if len(s.preferred) == 0 {
		return 0
	}
	var total int64
	nodeLabels := ni.Node().Labels
	for key := range s.preferredKeys {
		if v, ok := nodeLabels[key]; ok {
			total += s.preferred[topologyPair{key, v}]
		}
	}
	return total
}

// NormalizeScores maps the lowest score to 0 and the highest to
// MaxNodeScore.
func (interPodAffinity) NormalizeScores(_ *Cycle, scores []int64) {
	if len(scores) == 0 {
		return
	}
	lo, hi := scores[0], scores[0]
	for _, s := range scores {
		lo, hi = min(lo, s), max(hi, s)
	}
	for i, s := range scores {
		if hi == lo {
			scores[i] = 0
			continue
		}
		scores[i] = (s - lo) * MaxNodeScore / (hi - lo)
	}
}
