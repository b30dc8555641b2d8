//go:build tools

// CoreDNS 1.15 with its kubernetes plugin: cluster DNS (svc.cluster.local) inside the control plane's network namespace.
package tools

import (
	_ "github.com/coredns/coredns"
)
