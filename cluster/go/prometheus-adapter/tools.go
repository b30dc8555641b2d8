//go:build tools

// prometheus-adapter as its chart 5.3.0 runs it (appVersion v0.12.0): the custom metrics API that the HPAs of engine 'adapter' read.
package tools

import (
	_ "sigs.k8s.io/prometheus-adapter/cmd/adapter"
)
