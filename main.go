// Command stf-farm is the Pulumi program of an OpenSTF device farm. The program body is
// components.Program, so tests can run it with mocks.
package main

import (
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"stf-farm/components"
)

func main() {
	pulumi.Run(components.Program)
}
