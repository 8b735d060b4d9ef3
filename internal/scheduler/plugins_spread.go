package scheduler

import (
	corev1 "k8s.io/api/core/v1"
)

// zoneWeighting is the share of the spreading score that comes from zones
// when nodes carry zone labels, as upstream's SelectorSpread weighs it.
const zoneWeighting = 2.0 / 3.0

// selectorSpread spreads the pods of one controller (the pod's controller
// owner reference: a ReplicaSet, StatefulSet, Job...) across nodes, and
// across zones when nodes are labelled topology.kubernetes.io/zone: a node
// that already runs fewer of them scores higher.
type selectorSpread struct{}

var (
	_ PreScorePlugin = selectorSpread{}
	_ ScorePlugin    = selectorSpread{}
)

func (selectorSpread) Name() string { return nameSelectorSpread }

// PreScore computes every feasible node's final score at once, since the
// score of one node depends on the counts of all of them; Score returns
// them in feasible's order (prioritize scores the nodes in that order).
func (selectorSpread) PreScore(c *Cycle, feasible []*NodeInfo) {
	owner := c.PodInfo.owner
	c.spread, c.spreadNext = nil, 0
	if owner == "" {
		return
	}
	var counts []int
	if sc := c.scratch; sc != nil {
		if cap(sc.counts) < len(feasible) {
			sc.counts = make([]int, len(feasible))
		}
		counts = sc.counts[:len(feasible)]
		c.spread = sc.spread[:0]
		defer func() { sc.spread = c.spread }()
	} else {
		counts = make([]int, len(feasible))
		c.spread = make([]spreadScore, 0, len(feasible))
	}
	var maxByNode int
	var byZone map[string]int
	for i, ni := range feasible {
		n := ni.ownedBy(owner)
		counts[i] = n
		maxByNode = max(maxByNode, n)
		if ni.zone != "" {
			if byZone == nil {
				byZone = map[string]int{}
			}
			byZone[ni.zone] += n
		}
	}
	var maxByZone int
	for _, n := range byZone {
		maxByZone = max(maxByZone, n)
	}
	for i, ni := range feasible {
		score := float64(MaxNodeScore)
		if maxByNode > 0 {
			score = float64(MaxNodeScore) * float64(maxByNode-counts[i]) / float64(maxByNode)
		}
		if ni.zone != "" {
			zoneScore := float64(MaxNodeScore)
			if maxByZone > 0 {
				zoneScore = float64(MaxNodeScore) * float64(maxByZone-byZone[ni.zone]) / float64(maxByZone)
			}
			score = score*(1-zoneWeighting) + zoneWeighting*zoneScore
		}
		c.spread = append(c.spread, spreadScore{ni, int64(score)})
	}
}

func (selectorSpread) Score(c *Cycle, ni *NodeInfo) int64 {
	// In order, as PreScore saw the nodes; a lookup only if not.
	if c.spreadNext < len(c.spread) && c.spread[c.spreadNext].node == ni {
		c.spreadNext++
		return c.spread[c.spreadNext-1].score
	}
	for _, s := range c.spread {
		if s.node == ni {
			return s.score
		}
	}
	return 0
}

// spreadScore is selector spreading's score of one node.
type spreadScore struct {
	node  *NodeInfo
	score int64
}

// nodeZone returns the node's zone label (the GA one, else the beta one).
func nodeZone(node *corev1.Node) string {
	if z := node.Labels[corev1.LabelTopologyZone]; z != "" {
		return z
	}
	return node.Labels[corev1.LabelFailureDomainBetaZone]
}
