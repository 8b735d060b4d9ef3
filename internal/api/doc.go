// Package api holds what every Navarch component shares about the
// Kubernetes types themselves: the runtime Scheme of the served API groups
// and its codecs. It imports nothing from internal/.
package api
