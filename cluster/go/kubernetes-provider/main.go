// pulumi-resource-kubernetes, served from the upstream provider package. Upstream's own main embeds
// schema-embed.json and terraform-mapping-embed.json, which the published module leaves out; setup:cluster
// writes them beside this file with upstream's generator (cmd/pulumi-resource-kubernetes/generate.go).
package main

import (
	_ "embed"

	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/provider"
	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version"
)

//go:embed schema-embed.json
var pulumiSchema []byte

//go:embed terraform-mapping-embed.json
var terraformMapping []byte

func main() {
	provider.Serve("kubernetes", version.Version, pulumiSchema, terraformMapping)
}
