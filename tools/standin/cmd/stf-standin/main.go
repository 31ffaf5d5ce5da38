// Command stf-standin is the farm's stand-in for STF's `stf` command and for
// RethinkDB, for machines that cannot fetch STF's images. Install it as
// /usr/local/bin/stf so that `stf app --port 3000 ...` runs it as STF's image would;
// see package stf-farm/tools/standin for what it emulates.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"stf-farm/tools/standin"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	code := standin.Main(ctx, os.Args, os.Stdout, os.Stderr, os.LookupEnv)
	stop()
	os.Exit(code)
}
