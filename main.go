// Command stf-farm is the Pulumi program of an OpenSTF device farm. Run by Pulumi (for
// example `pulumi up`), it is the program; run with a command line (`stf-farm preview
// --stack dev`), it drives the same program through the Pulumi engine itself, for
// machines without Pulumi's Go language host. The program body is components.Program,
// so tests can run it with mocks.
package main

import (
	"os"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"stf-farm/components"
	"stf-farm/components/engine"
)

func main() {
	if engine.IsEngineCommand() {
		os.Exit(engine.Main(os.Args[1:], os.Stdout, os.Stderr))
	}
	pulumi.Run(components.Program)
}
