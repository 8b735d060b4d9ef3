// Package proxy is Navarch's service proxy: it turns Services and
// EndpointSlices into nftables rules in a table of its own
// (`table ip navarch`), the layout kube-proxy's nftables mode uses:
//
//   - a verdict map from VIP . protocol . port to a per-service chain
//     (cluster IPs, external IPs, load-balancer IPs), and one from
//     protocol . port for NodePorts, matched on every local address;
//   - per service port a cluster chain (every ready endpoint), a local
//     chain (the ready endpoints on this node, for the Local traffic
//     policies) and an external chain for external IPs, load-balancer IPs
//     and NodePorts (masquerade under externalTrafficPolicy Cluster; keep
//     the client address under Local);
//   - per endpoint a chain doing the DNAT, marking hairpin traffic for
//     masquerade and, with ClientIP session affinity, pinning the client
//     in a set whose timeout is the service's timeoutSeconds;
//   - verdict maps in the filter hooks rejecting traffic to services
//     without endpoints, and dropping external traffic to a Local service
//     without endpoints on this node; consulted for a connection's first
//     packet only (ct state new), so established traffic pays no lookup.
//
// The table is data first (ruleset, built per Service by pure functions,
// golden-tested) and transactions second: RenderTable writes it whole,
// fullScript rewrites it in place (both nft scripts), computeDelta finds
// what changed between two rulesets, written as an nft script
// (deltaScript, golden-tested) or as one nf_tables netlink batch
// (netlink.go: nft would first read all 11,000 chains of a large table).
// Proxier watches the API and applies them one transaction each, so
// traffic never sees a half-updated table and nothing is ever flushed and
// rebuilt in two steps; a periodic full sync (refresh.go) is a series of
// such transactions, each rewriting whole services, so that partial syncs
// go on between them. The tests check on the kernel that every path
// leaves exactly what a whole render does.
package proxy
