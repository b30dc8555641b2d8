//go:build tools

// VictoriaMetrics v1.150.0, the fleet's store and ruler: victoria-metrics (single node) and vmalert for the fleet
// tests, and vmalert-tool, whose `unittest` proves the fleet rules on the engine that runs them in production.
package tools

import (
	_ "github.com/VictoriaMetrics/VictoriaMetrics/app/victoria-metrics"
	_ "github.com/VictoriaMetrics/VictoriaMetrics/app/vmalert"
	_ "github.com/VictoriaMetrics/VictoriaMetrics/app/vmalert-tool"
)
