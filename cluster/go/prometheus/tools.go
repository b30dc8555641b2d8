//go:build tools

// Prometheus 3.14 and promtool, the image kube-prometheus-stack 88.5.3 runs (prometheus/prometheus:v3.14.0).
package tools

import (
	_ "github.com/prometheus/prometheus/cmd/prometheus"
	_ "github.com/prometheus/prometheus/cmd/promtool"
)
