//go:build tools

// prometheus-operator as kube-prometheus-stack 88.5.3 runs it (appVersion v0.93.1): it turns ServiceMonitors,
// PrometheusRules and the Prometheus/Alertmanager objects into their configurations. Its config reloader is the
// sidecar of the Prometheus and Alertmanager pods it makes.
package tools

import (
	_ "github.com/prometheus-operator/prometheus-operator/cmd/operator"
	_ "github.com/prometheus-operator/prometheus-operator/cmd/prometheus-config-reloader"
)
