# Build rules of the platform under the `docker` machine provider: a Docker engine
# private to this checkout, the images of the farm's machines, and the programs in
# them. The main Makefile includes this file; `make -f local/local.mk TARGET` works
# too. local/README.md explains the design.
#
#   make local-deps      apt-get install the packages below that are missing (needs root)
#   make local-bins      build fleetd, fleetctl and stf-farm-runc into bin/local/
#   make local-start     start the engine (local/dockerd.sh start) and print DOCKER_HOST
#   make local-stop      stop the engine; its images and containers stay in .local-docker/
#   make local-status    print DOCKER_HOST and whether the engine responds
#   make images          build stf-farm/node:local and stf-farm/db:local (skipped
#                        when their inputs are unchanged)
#   make image-node      only the node image
#   make image-db        only the db image; STF_STANDIN=PATH uses a prebuilt stand-in
#   make unit-images     the images that the farm's units run on the nodes, saved to
#                        .local-docker/images (local/images/services/build.sh)
#   make local-check     gofmt, go vet and the unit tests of the platform's Go code
#   make local-test      the platform tests in tests/local (boots three nodes)
#   make local-clean     remove the farm's containers, networks and images from the
#                        engine, and the build folder
#   make local-distclean stop the engine and delete .local-docker/ with all its data

LOCAL_DIR  := $(patsubst %/,%,$(dir $(abspath $(lastword $(MAKEFILE_LIST)))))
LOCAL_ROOT := $(patsubst %/,%,$(dir $(LOCAL_DIR)))
LOCAL_BIN  := $(LOCAL_ROOT)/bin/local

# The version that `fleetd --version` and `fleetctl version` print; the main Makefile
# sets FLEET_VERSION for its own fleetctl build.
LOCAL_FLEET_VERSION := $(or $(FLEET_VERSION),1.0.0)
LOCAL_FLEET_LDFLAGS := -X github.com/coreos/fleet/version.Version=$(LOCAL_FLEET_VERSION)

# The db image runs `stf-standin rethinkdb`. By default the stand-in is built from
# tools/standin; STF_STANDIN names a prebuilt static binary instead.
STF_STANDIN ?= $(LOCAL_BIN)/stf-standin

# docker.io runs the machines, and debootstrap with the Debian keyring builds their base
# image. adb, socat, nginx and busybox-static go into the unit images, and
# openssh-client is what the tests log in to the nodes with.
LOCAL_APT_PACKAGES := docker.io debootstrap debian-archive-keyring adb socat nginx \
	busybox-static openssh-client

LOCAL_FLEET_SOURCES := $(LOCAL_ROOT)/tools/fleetctl/go.mod $(LOCAL_ROOT)/tools/fleetctl/go.sum \
	$(wildcard $(LOCAL_ROOT)/tools/fleetctl/globalconf/*.go)
LOCAL_RUNC_SOURCES := $(LOCAL_ROOT)/go.mod $(wildcard $(LOCAL_DIR)/stf-farm-runc/*.go)
LOCAL_STANDIN_SOURCES := $(LOCAL_ROOT)/tools/go.mod $(LOCAL_ROOT)/tools/go.sum \
	$(shell find $(LOCAL_ROOT)/tools/standin -name '*.go' -not -name '*_test.go' 2>/dev/null)

# Every image recipe points the Docker client at this checkout's engine, starting it
# when it is not running.
LOCAL_ENGINE := export DOCKER_HOST="$$($(LOCAL_DIR)/dockerd.sh start)" &&

.PHONY: local-deps local-bins local-start local-stop local-status images image-node \
	image-db unit-images local-check local-test local-clean local-distclean

local-deps:
	@missing=""; \
	for package in $(LOCAL_APT_PACKAGES); do \
		dpkg-query -W -f='$${Status}' "$$package" 2>/dev/null | grep -q "install ok installed" || \
			missing="$$missing $$package"; \
	done; \
	if [ -z "$$missing" ]; then \
		echo "$(LOCAL_APT_PACKAGES) are installed."; \
	else \
		echo "Installing$$missing."; \
		apt-get update -q && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	fi

local-bins: $(LOCAL_BIN)/fleetd $(LOCAL_BIN)/fleetctl $(LOCAL_BIN)/stf-farm-runc

# fleetd and fleetctl come from the module pinned in tools/fleetctl/go.mod, static so
# that they run in any image.
$(LOCAL_BIN)/fleetd: $(LOCAL_FLEET_SOURCES)
	@mkdir -p $(LOCAL_BIN)
	cd $(LOCAL_ROOT)/tools/fleetctl && CGO_ENABLED=0 go build -trimpath \
		-ldflags "$(LOCAL_FLEET_LDFLAGS)" -o $@ github.com/coreos/fleet

$(LOCAL_BIN)/fleetctl: $(LOCAL_FLEET_SOURCES)
	@mkdir -p $(LOCAL_BIN)
	cd $(LOCAL_ROOT)/tools/fleetctl && CGO_ENABLED=0 go build -trimpath \
		-ldflags "$(LOCAL_FLEET_LDFLAGS)" -o $@ github.com/coreos/fleet/fleetctl

$(LOCAL_BIN)/stf-farm-runc: $(LOCAL_RUNC_SOURCES)
	@mkdir -p $(LOCAL_BIN)
	cd $(LOCAL_ROOT) && CGO_ENABLED=0 go build -trimpath -o $@ ./local/stf-farm-runc

$(LOCAL_BIN)/stf-standin: $(LOCAL_STANDIN_SOURCES)
	@mkdir -p $(LOCAL_BIN)
	@if [ ! -d $(LOCAL_ROOT)/tools/standin/cmd/stf-standin ]; then \
		echo "tools/standin/cmd/stf-standin is missing; set STF_STANDIN to a static stand-in binary."; \
		exit 1; \
	fi
	cd $(LOCAL_ROOT)/tools && CGO_ENABLED=0 go build -trimpath -o $@ ./standin/cmd/stf-standin

local-start: $(LOCAL_BIN)/stf-farm-runc
	@$(LOCAL_DIR)/dockerd.sh start

local-stop:
	@$(LOCAL_DIR)/dockerd.sh stop

local-status:
	@$(LOCAL_DIR)/dockerd.sh status

images: image-node image-db

image-node: local-bins
	@$(LOCAL_ENGINE) STF_FARM_FLEETD=$(LOCAL_BIN)/fleetd STF_FARM_FLEETCTL=$(LOCAL_BIN)/fleetctl \
		STF_FARM_RUNC=$(LOCAL_BIN)/stf-farm-runc $(LOCAL_DIR)/images/build.sh node

# Only the default stand-in path has a build rule; a path given in STF_STANDIN is
# checked by build.sh, which names the variable when the file is missing.
image-db: $(LOCAL_BIN)/stf-farm-runc $(filter $(LOCAL_BIN)/stf-standin,$(STF_STANDIN))
	@$(LOCAL_ENGINE) STF_FARM_STANDIN=$(STF_STANDIN) $(LOCAL_DIR)/images/build.sh db

unit-images: $(LOCAL_BIN)/stf-farm-runc $(filter $(LOCAL_BIN)/stf-standin,$(STF_STANDIN))
	@$(LOCAL_ENGINE) STF_STANDIN=$(STF_STANDIN) $(LOCAL_DIR)/images/services/build.sh

local-check:
	@out="$$(cd $(LOCAL_ROOT) && gofmt -l local tests/local tools/fleetctl/globalconf)"; \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi
	cd $(LOCAL_ROOT) && go vet ./local/... ./tests/local/...
	cd $(LOCAL_ROOT)/tools/fleetctl/globalconf && go vet ./... && go test -count=1 ./...

local-test:
	cd $(LOCAL_ROOT) && go test -count=1 -v ./tests/local/

local-clean: $(LOCAL_BIN)/stf-farm-runc
	@$(LOCAL_ENGINE) $(LOCAL_DIR)/clean.sh

local-distclean:
	$(LOCAL_DIR)/dockerd.sh stop
	rm -rf $(LOCAL_ROOT)/.local-docker
