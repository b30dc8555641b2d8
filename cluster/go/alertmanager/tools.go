//go:build tools

// Alertmanager 0.34, the image kube-prometheus-stack 88.5.3 runs (tag v0.34.0).
package tools

import (
	_ "github.com/prometheus/alertmanager/cmd/alertmanager"
)
