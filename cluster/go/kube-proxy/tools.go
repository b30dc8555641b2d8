//go:build tools

// kube-proxy (iptables mode) of the same Kubernetes as the control plane: ClusterIP Services inside the namespace.
package tools

import _ "k8s.io/kubernetes/cmd/kube-proxy"
