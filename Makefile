# stf-farm: build the tools the farm needs, run the tests, and drive the stack.
#
#   make test               vet, format check and every test (needs nginx, vagrant,
#                           etcd-server and openssh-server from apt, and `make tools`)
#   make tools              build the Pulumi CLI, the provider plugins and fleetctl into bin/
#   make preview STACK=dev  show what `make up` would change, with the full plan
#   make up STACK=dev       create or update the farm of a stack
#   make down STACK=dev     destroy the farm of a stack
#   make refresh STACK=dev  read the state of every resource of a stack again
#
# The stack commands run the program through the Pulumi engine with the Automation API
# (see components/engine), with state in .pulumi-state/ unless PULUMI_BACKEND_URL is set.

STACK ?= dev
BIN   := $(CURDIR)/bin

# fleet v1.0.0 and the dependency versions that build with it are pinned in
# tools/fleetctl/go.mod; the version string is what `fleetctl version` prints.
FLEET_VERSION := 1.0.0

.PHONY: all test vet fmt-check fleetctl engine preview up down refresh
all: test

include tools/tools.mk

fleetctl: $(BIN)/fleetctl

$(BIN)/fleetctl: tools/fleetctl/go.mod tools/fleetctl/go.sum
	cd tools/fleetctl && CGO_ENABLED=0 go build -trimpath \
		-ldflags "-X github.com/coreos/fleet/version.Version=$(FLEET_VERSION)" \
		-o $(BIN)/fleetctl github.com/coreos/fleet/fleetctl

tools: fleetctl

vet:
	go vet ./...

fmt-check:
	@out=$$(gofmt -l main.go components files tests); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

test: tools vet fmt-check tools-check
	go test -count=1 ./...

# The engine command is rebuilt on every use; Go's build cache makes that quick.
engine: tools
	go build -o $(BIN)/stf-farm .

preview up down refresh: engine
	$(BIN)/stf-farm $@ --stack $(STACK)

# Times warm previews of the dev stack, of a trivial program and of a generated stack of
# BENCH_MACHINES cluster machines through the real engine, and prints their medians (see
# docs/benchmarks.md).
BENCH_MACHINES ?= 30
bench: tools
	STF_FARM_BENCH_MACHINES=$(BENCH_MACHINES) go test -count=1 -run '^$$' \
		-bench '^BenchmarkPreview$$' -benchtime=1x ./tests/engine/
.PHONY: bench
