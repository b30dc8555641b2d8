//go:build tools

// kube-state-metrics as kube-prometheus-stack's subchart runs it (appVersion 2.20.0): the kube_* series the alert analyst reads.
package tools

import (
	_ "k8s.io/kube-state-metrics/v2"
)
