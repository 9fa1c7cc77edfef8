// The provider's own cmd/pulumi-resource-kubernetes/main.go, whose go:embed files its Makefile generates (they are
// not in the module): build.sh writes schema-embed.json and terraform-mapping-embed.json here, in a copy of this
// directory, from the module's schema.json and terraform-mapping.json as the module's generate.go does.
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
