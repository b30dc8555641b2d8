//go:build tools

// The Pulumi CLI (engine). The Automation API drives it; no language host is needed.
package tools

import _ "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"
