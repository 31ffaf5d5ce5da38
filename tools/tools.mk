# Build rules for the tools that deploy and test this program.
#
# The main Makefile includes this file with "include tools/tools.mk". It
# builds, into ./bin at the top of the repository:
#
#   bin/pulumi                           the Pulumi CLI, compiled from source
#   bin/plugins/pulumi-resource-command  our stand-in for the "command" provider
#   bin/plugins/pulumi-resource-random   our stand-in for the "random" provider
#
# and installs both providers into the repository's Pulumi home folder
# (.pulumi-home, see STF_FARM_PULUMI_HOME below) under the exact versions that
# the Go SDKs in go.mod ask for, so that the engine finds them locally and
# never tries to download anything.
#
# Targets:
#   make tools             the CLI and both providers, installed
#   make tools-cli         only the CLI (skipped when it already has the right version)
#   make tools-plugins     only the providers, built and installed
#   make tools-check       gofmt, go vet and the unit tests of the tools module
#   make conformance       the conformance suite in tests/conformance
#   make tools-clean       removes the binaries from ./bin (installed plugins stay)
#
# Set STF_FARM_OFFICIAL_PLUGINS=1 on a machine that already has the official
# providers installed: "make tools" then builds only the CLI and leaves the
# installed providers alone, and the conformance suite runs against them.

TOOLS_DIR := $(patsubst %/,%,$(dir $(abspath $(lastword $(MAKEFILE_LIST)))))
TOOLS_BIN ?= $(CURDIR)/bin

# The Pulumi home folder (plugins, workspace settings) of this repository.
# It defaults to .pulumi-home at the top of the repository, so that a
# developer's own ~/.pulumi is left untouched; set STF_FARM_PULUMI_HOME to
# choose another folder. A PULUMI_HOME already set in the environment is
# deliberately not reused, because installing the stand-in providers there
# would replace official providers of the same version. Every recipe (the
# main Makefile's included) sees the chosen folder as PULUMI_HOME.
#
# With STF_FARM_OFFICIAL_PLUGINS=1 the official providers are used from the
# developer's own Pulumi home (PULUMI_HOME, or else ~/.pulumi), which is then
# left as it is.
STF_FARM_PULUMI_HOME ?= $(CURDIR)/.pulumi-home
export STF_FARM_PULUMI_HOME
ifneq ($(STF_FARM_OFFICIAL_PLUGINS),1)
export PULUMI_HOME := $(STF_FARM_PULUMI_HOME)
endif

# The CLI must never reach the network: no update check, no automatic plugin
# download and no registry look-up.
export PULUMI_SKIP_UPDATE_CHECK := true
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION := true
export PULUMI_DISABLE_REGISTRY_RESOLVE := true

# The versions below must match what the SDKs pinned in go.mod request: the
# CLI matches the sdk/v3 version, and each provider matches the "version"
# field of its SDK's pulumi-plugin.json.
PULUMI_CLI_VERSION     := v3.276.0
COMMAND_PLUGIN_VERSION := 1.2.1
RANDOM_PLUGIN_VERSION  := 4.21.2

PULUMI := $(TOOLS_BIN)/pulumi

# The providers are built into a folder of their own: the engine prefers any
# pulumi-resource-* program it finds on PATH over installed plugins (and warns
# about it), and the Automation API puts the CLI's folder on PATH. Keeping
# them out of that folder makes the engine load the installed versions.
PLUGIN_BIN := $(TOOLS_BIN)/plugins

# The CLI reports the version it was stamped with at link time; without the
# stamp "pulumi version" prints nothing and the Automation API refuses it.
PULUMI_CLI_LDFLAGS := -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$(PULUMI_CLI_VERSION)

TOOLS_SOURCES := $(TOOLS_DIR)/go.mod $(TOOLS_DIR)/go.sum \
	$(shell find $(TOOLS_DIR)/cmd $(TOOLS_DIR)/internal -name '*.go' -not -name '*_test.go' 2>/dev/null)

COMMAND_PLUGIN_INSTALLED := $(STF_FARM_PULUMI_HOME)/plugins/resource-command-v$(COMMAND_PLUGIN_VERSION)/pulumi-resource-command
RANDOM_PLUGIN_INSTALLED  := $(STF_FARM_PULUMI_HOME)/plugins/resource-random-v$(RANDOM_PLUGIN_VERSION)/pulumi-resource-random

ifeq ($(STF_FARM_OFFICIAL_PLUGINS),1)
tools: tools-cli
	@echo "STF_FARM_OFFICIAL_PLUGINS=1: using the providers already installed; ours are not built."
else
tools: tools-cli tools-plugins
endif

# The CLI is a large build (several minutes when nothing is cached), so it is
# skipped whenever the binary in ./bin already reports the expected version.
tools-cli:
	@mkdir -p $(TOOLS_BIN)
	@if [ "$$($(PULUMI) version 2>/dev/null)" = "$(PULUMI_CLI_VERSION)" ]; then \
		echo "$(PULUMI) is already $(PULUMI_CLI_VERSION)."; \
	else \
		echo "Building the Pulumi CLI $(PULUMI_CLI_VERSION) from source; this takes several minutes the first time."; \
		cd $(TOOLS_DIR) && go build -ldflags "$(PULUMI_CLI_LDFLAGS)" -o $(PULUMI) github.com/pulumi/pulumi/pkg/v3/cmd/pulumi; \
	fi

tools-plugins: $(COMMAND_PLUGIN_INSTALLED) $(RANDOM_PLUGIN_INSTALLED)

# Each provider reports the version it is installed under, so the version
# is stamped in at link time from the variables above.
$(PLUGIN_BIN)/pulumi-resource-command: PLUGIN_LDFLAGS := -X stf-farm/tools/internal/command.Version=$(COMMAND_PLUGIN_VERSION)
$(PLUGIN_BIN)/pulumi-resource-random: PLUGIN_LDFLAGS := -X stf-farm/tools/internal/random.Version=$(RANDOM_PLUGIN_VERSION)

$(PLUGIN_BIN)/pulumi-resource-command $(PLUGIN_BIN)/pulumi-resource-random: $(PLUGIN_BIN)/%: $(TOOLS_SOURCES)
	@mkdir -p $(PLUGIN_BIN)
	cd $(TOOLS_DIR) && go build -ldflags "$(PLUGIN_LDFLAGS)" -o $@ ./cmd/$*

# "--reinstall" replaces an earlier build of the same version; "--file" makes
# the CLI copy our binary instead of downloading the official one.
$(COMMAND_PLUGIN_INSTALLED): $(PLUGIN_BIN)/pulumi-resource-command | tools-cli
	$(PULUMI) plugin install resource command $(COMMAND_PLUGIN_VERSION) --file $< --reinstall

$(RANDOM_PLUGIN_INSTALLED): $(PLUGIN_BIN)/pulumi-resource-random | tools-cli
	$(PULUMI) plugin install resource random $(RANDOM_PLUGIN_VERSION) --file $< --reinstall

tools-check:
	@cd $(TOOLS_DIR) && out="$$(gofmt -l cmd internal standin)" && if [ -n "$$out" ]; then echo "gofmt wants changes in:"; echo "$$out"; exit 1; fi
	cd $(TOOLS_DIR) && go vet ./...
	cd $(TOOLS_DIR) && go test -count=1 ./...

conformance: tools
	go test -count=1 ./tests/conformance/

tools-clean:
	rm -f $(PULUMI) $(PLUGIN_BIN)/pulumi-resource-command $(PLUGIN_BIN)/pulumi-resource-random

.PHONY: tools tools-cli tools-plugins tools-check conformance tools-clean
