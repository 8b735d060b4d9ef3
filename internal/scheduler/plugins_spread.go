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
// score of one node depends on the counts of all of them.
func (selectorSpread) PreScore(c *Cycle, feasible []*NodeInfo) {
	owner := c.PodInfo.owner
	if owner == "" {
		c.Write(nameSelectorSpread, map[*NodeInfo]int64(nil))
		return
	}
	var maxByNode int
	byZone := map[string]int{}
	for _, ni := range feasible {
		n := ni.owners[owner]
		maxByNode = max(maxByNode, n)
		if z := nodeZone(ni.Node()); z != "" {
			byZone[z] += n
		}
	}
	var maxByZone int
	for _, n := range byZone {
		maxByZone = max(maxByZone, n)
	}
	scores := make(map[*NodeInfo]int64, len(feasible))
	for _, ni := range feasible {
		score := float64(MaxNodeScore)
		if maxByNode > 0 {
			score = float64(MaxNodeScore) * float64(maxByNode-ni.owners[owner]) / float64(maxByNode)
		}
		if z := nodeZone(ni.Node()); z != "" && len(byZone) > 0 {
			zoneScore := float64(MaxNodeScore)
			if maxByZone > 0 {
				zoneScore = float64(MaxNodeScore) * float64(maxByZone-byZone[z]) / float64(maxByZone)
			}
			score = score*(1-zoneWeighting) + zoneWeighting*zoneScore
		}
		scores[ni] = int64(score)
	}
	c.Write(nameSelectorSpread, scores)
}

func (selectorSpread) Score(c *Cycle, ni *NodeInfo) int64 {
	scores, _ := c.Read(nameSelectorSpread).(map[*NodeInfo]int64)
	if scores == nil {
		return 0
	}
	return scores[ni]
}

// nodeZone returns the node's zone label (the GA one, else the beta one).
func nodeZone(node *corev1.Node) string {
	if z := node.Labels[corev1.LabelTopologyZone]; z != "" {
		return z
	}
	return node.Labels[corev1.LabelFailureDomainBetaZone]
}
