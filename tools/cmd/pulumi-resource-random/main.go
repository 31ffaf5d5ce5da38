// Command pulumi-resource-random is a stand-in for the official "random"
// resource provider plugin. See package stf-farm/tools/internal/random for
// what it implements.
package main

import (
	"fmt"
	"os"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/provider"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"

	"stf-farm/tools/internal/random"
)

func main() {
	err := provider.Main("random", func(host *provider.HostClient) (pulumirpc.ResourceProviderServer, error) {
		return random.New(host), nil
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
