//go:build tools

// kwok simulates the nodes and pods of the local control plane (no container runtime).
package tools

import _ "sigs.k8s.io/kwok/cmd/kwok"
