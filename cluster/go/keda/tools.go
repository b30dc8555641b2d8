//go:build tools

// KEDA as its chart 2.20.2 runs it: the operator, the metrics server (an APIService) and the admission webhooks.
package tools

import (
	_ "github.com/kedacore/keda/v2/cmd/operator"
	_ "github.com/kedacore/keda/v2/cmd/adapter"
	_ "github.com/kedacore/keda/v2/cmd/webhooks"
)
