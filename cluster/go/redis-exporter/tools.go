//go:build tools

// redis_exporter v1.74.0, the sidecar image the queue (Valkey) StatefulSet runs: the queue's metrics.
package tools

import _ "github.com/oliver006/redis_exporter"
