package prober

import (
	"fmt"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Type is the kind of a probe.
type Type int

// The probe types, in the order a container's probes are listed.
const (
	Liveness Type = iota
	Readiness
	Startup
)

// String is the type as the kubelet's events name it ("Liveness probe
// failed: ...").
func (t Type) String() string {
	switch t {
	case Liveness:
		return "Liveness"
	case Readiness:
		return "Readiness"
	case Startup:
		return "Startup"
	}
	return "Unknown"
}

// spec returns container c's probe of type t (nil if it has none).
func (t Type) spec(c *corev1.Container) *corev1.Probe {
	switch t {
	case Liveness:
		return c.LivenessProbe
	case Readiness:
		return c.ReadinessProbe
	case Startup:
		return c.StartupProbe
	}
	return nil
}

// Result is what a container's probe concluded, once the thresholds are
// met.
type Result int

const (
	// Unknown: no conclusion yet.
	Unknown Result = iota
	Success
	Failure
)

func (r Result) String() string {
	switch r {
	case Success:
		return "Success"
	case Failure:
		return "Failure"
	}
	return "Unknown"
}

// Outcome is what one run of a handler concluded.
type Outcome int

const (
	// Failed: the check failed (the output says why).
	Failed Outcome = iota
	// Succeeded: the check passed.
	Succeeded
	// Warned: the check passed with a warning (an HTTP redirect to
	// another host, not followed).
	Warned
)

// The kubelet's probe defaults, for fields the API server did not
// default.
const (
	defaultPeriodSeconds    = 10
	defaultTimeoutSeconds   = 1
	defaultSuccessThreshold = 1
	defaultFailureThreshold = 3
)

// timing is a probe's schedule and thresholds with defaults applied.
type timing struct {
	initialDelay, period, timeout time.Duration
	successThreshold              int
	failureThreshold              int
}

func timingOf(p *corev1.Probe) timing {
	orDefault := func(v, def int32) int32 {
		if v <= 0 {
			return def
		}
		return v
	}
	return timing{
		initialDelay:     time.Duration(max(p.InitialDelaySeconds, 0)) * time.Second,
		period:           time.Duration(orDefault(p.PeriodSeconds, defaultPeriodSeconds)) * time.Second,
		timeout:          time.Duration(orDefault(p.TimeoutSeconds, defaultTimeoutSeconds)) * time.Second,
		successThreshold: int(orDefault(p.SuccessThreshold, defaultSuccessThreshold)),
		failureThreshold: int(orDefault(p.FailureThreshold, defaultFailureThreshold)),
	}
}

// ResolvePort turns a handler's port (a number, or the name of one of
// the container's ports) into a port number, as the kubelet does: a name
// no port has is tried as a number written as a string.
func ResolvePort(port intstr.IntOrString, c *corev1.Container) (int, error) {
	n := -1
	switch port.Type {
	case intstr.Int:
		n = port.IntValue()
	case intstr.String:
		found := false
		for _, p := range c.Ports {
			if p.Name == port.StrVal {
				n, found = int(p.ContainerPort), true
				break
			}
		}
		if !found {
			var err error
			if n, err = strconv.Atoi(port.StrVal); err != nil {
				return -1, fmt.Errorf("prober: port %q: no such container port", port.StrVal)
			}
		}
	default:
		return -1, fmt.Errorf("prober: port %v has no kind", port)
	}
	if n <= 0 || n >= 65536 {
		return n, fmt.Errorf("prober: invalid port number: %d", n)
	}
	return n, nil
}
