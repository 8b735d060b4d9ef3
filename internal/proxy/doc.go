// Package proxy is Navarch's service proxy: it turns Services and
// EndpointSlices into nftables rules in a table of its own
// (`table ip navarch`), the layout kube-proxy's nftables mode uses:
//
//   - a verdict map from VIP . protocol . port to a per-service chain
//     (cluster IPs, external IPs, load-balancer IPs);
//   - a verdict map from protocol . port to the same chains for NodePorts,
//     matched on every local address;
//   - per-service chains picking an endpoint at random (or the one a
//     client is pinned to with ClientIP session affinity), per-endpoint
//     chains doing the DNAT and marking hairpin traffic for masquerade;
//   - a filter chain rejecting traffic to services without endpoints.
//
// Render is a pure function (golden-tested); Proxier watches the API and
// applies what Render gives with one `nft -f` transaction, so traffic
// never sees a half-updated table.
package proxy
