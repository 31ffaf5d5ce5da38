# stf-farm: build the tools the farm needs, run the tests, and drive the stack.
#
#   make test               vet, format check and every test (needs nginx, vagrant,
#                           etcd-server and openssh-server from apt, and `make tools`)
#   make tools              build the Pulumi CLI, the provider plugins and fleetctl into bin/
#   make up                 create or update the local farm (STACK=local: Docker nodes)
#   make preview STACK=dev  show what `make up` would change, with the full plan
#   make up STACK=dev       create or update the farm of another stack
#   make down               destroy the farm of a stack (default local)
#   make refresh            refresh the state of a stack
#   make pulumi ARGS='...'  run the Pulumi CLI on the project's backend, e.g. to set a secret
#
# The stack commands run the program through the Pulumi engine with the Automation API
# (see components/engine), with state in .pulumi-state/ unless PULUMI_BACKEND_URL is set.

STACK ?= local
BIN   := $(CURDIR)/bin

# fleet v1.0.0 and the dependency versions that build with it are pinned in
# tools/fleetctl/go.mod; the version string is what `fleetctl version` prints.
FLEET_VERSION := 1.0.0

.PHONY: all test vet fmt-check fleetctl engine preview up down refresh
all: test

include tools/tools.mk
include local/local.mk

fleetctl: $(BIN)/fleetctl

$(BIN)/fleetctl: tools/fleetctl/go.mod tools/fleetctl/go.sum
	cd tools/fleetctl && CGO_ENABLED=0 go build -trimpath \
		-ldflags "-X github.com/coreos/fleet/version.Version=$(FLEET_VERSION)" \
		-o $(BIN)/fleetctl github.com/coreos/fleet/fleetctl

tools: fleetctl

vet:
	go vet ./...

fmt-check:
	@out=$$(gofmt -l main.go components files tests local tools/fleetctl/globalconf); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

# The tests boot Docker nodes from these images; building them first keeps test
# packages that run side by side from building them at once.
test: tools vet fmt-check tools-check local-check farm-images
	go test -count=1 ./...

# The engine command is rebuilt on every use; Go's build cache makes that quick.
engine: tools
	go build -o $(BIN)/stf-farm .

# A stack whose machines are Docker nodes (provider docker) needs the node images and
# the images of its units before `up`.
DOCKER_STACK := $(shell grep -qs '^ *stf-farm:provider: *docker' Pulumi.$(STACK).yaml && echo yes)

.PHONY: farm-images
farm-images: local-bins images
	local/images/services/build.sh

up: $(if $(DOCKER_STACK),farm-images)

preview up down refresh: engine
	$(BIN)/stf-farm $@ --stack $(STACK)

# Runs the Pulumi CLI with the project's backend, passphrase and plugins, for example
#   make pulumi ARGS='config set --secret stf-farm:stfSecret --stack dev'
.PHONY: pulumi
pulumi: engine
	$(BIN)/stf-farm pulumi $(ARGS)

# Times warm previews of the dev stack, of a trivial program and of a generated stack of
# BENCH_MACHINES cluster machines through the real engine, and prints their medians (see
# docs/benchmarks.md).
# `make bench-preview` runs only these. `make bench` runs bench-local first.
BENCH_MACHINES ?= 30
bench bench-preview: tools
	STF_FARM_BENCH_MACHINES=$(BENCH_MACHINES) go test -count=1 -run '^$$' \
		-bench '^BenchmarkPreview$$' -benchtime=1x ./tests/engine/
.PHONY: bench bench-preview

# Times an up of the local farm's machines and units from nothing through the real
# engine, Vagrant and fleet, computes its critical path from the engine's events and
# times a no-op up (see docs/benchmarks.md). It uses the stack e2e of tests/e2e, on its
# own network, so a running local farm is left alone. `make bench` runs it first.
.PHONY: bench-local
bench-local: tools farm-images
	go test -count=1 -run '^$$' -bench '^BenchmarkUp$$' -benchtime=1x -timeout 15m ./tests/e2e/

bench: bench-local
