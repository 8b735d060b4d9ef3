package pki

import (
	"encoding/hex"
	"net"
	"testing"
)

func TestReachableHostIP(t *testing.T) {
	tests := []struct {
		ip   string
		want bool
	}{
		{ip: "10.0.0.5", want: true},
		{ip: "192.168.1.2", want: true},
		{ip: "203.0.113.9", want: true},
		{ip: "2001:db8::1", want: true},
		{ip: "fd00::1", want: true},
		{ip: "127.0.0.1"},
		{ip: "::1"},
		{ip: "169.254.10.1"},
		{ip: "fe80::1"},
		{ip: "0.0.0.0"},
		{ip: "::"},
		{ip: "224.0.0.1"},
		{ip: "ff02::1"},
	}
	for _, tt := range tests {
		t.Run(tt.ip, func(t *testing.T) {
			if got := reachableHostIP(net.ParseIP(tt.ip)); got != tt.want {
				t.Errorf("reachableHostIP(%s) = %v, want %v", tt.ip, got, tt.want)
			}
		})
	}
	t.Run("nil", func(t *testing.T) {
		if reachableHostIP(nil) {
			t.Errorf("reachableHostIP(nil) = true, want false")
		}
	})
}

func TestHostIPs(t *testing.T) {
	ips, err := HostIPs()
	if err != nil {
		t.Fatalf("HostIPs: %v", err)
	}
	t.Logf("host IPs: %v", ips)
	for i, ip := range ips {
		if !reachableHostIP(ip) {
			t.Errorf("HostIPs returned %s, which is loopback, link-local or not unicast", ip)
		}
		if ip.To4() != nil && len(ip) != net.IPv4len {
			t.Errorf("HostIPs returned IPv4 %s in %d bytes, want 4", ip, len(ip))
		}
		for _, earlier := range ips[:i] {
			if earlier.Equal(ip) {
				t.Errorf("HostIPs returned %s twice", ip)
			}
		}
	}
}

func TestRandomToken(t *testing.T) {
	first, err := RandomToken()
	if err != nil {
		t.Fatalf("RandomToken: %v", err)
	}
	second, err := RandomToken()
	if err != nil {
		t.Fatalf("RandomToken: %v", err)
	}
	for _, token := range []string{first, second} {
		raw, err := hex.DecodeString(token)
		if err != nil || len(raw) != 32 {
			t.Errorf("token %q decodes to %d bytes (err %v), want 32 bytes of hex", token, len(raw), err)
		}
	}
	if first == second {
		t.Errorf("two tokens are equal: %s", first)
	}
}
