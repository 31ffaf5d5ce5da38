#!/usr/bin/env bash
# Builds an image of the farm's machines in the Docker engine named by DOCKER_HOST.
#
#   local/images/build.sh node    stf-farm/node:local, a cluster machine
#   local/images/build.sh db      stf-farm/db:local, the database machine
#
# Both start from the base image of local/images/base/build.sh (built first when
# needed) and add files only (COPY), so a build needs no network. The build context is
# assembled in .local-docker/build/context-<kind>, and the image carries a label
# stf-farm.inputs with a hash of that context and of the base tag: a build whose inputs
# are unchanged is skipped.
#
# Programs copied into the images, each a static Linux binary:
#   node: STF_FARM_FLEETD, STF_FARM_FLEETCTL and STF_FARM_RUNC (default bin/local/fleetd,
#         bin/local/fleetctl and bin/local/stf-farm-runc, which `make local-bins` builds)
#   db:   STF_FARM_STANDIN (default bin/local/stf-standin), run as `stf-standin rethinkdb`
set -eu

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
docker_bin=/usr/bin/docker

log() {
  printf '%s\n' "$*" >&2
}

fail() {
  log "$*"
  exit 1
}

kind="${1:-}"
case "$kind" in
node | db) ;;
*) fail "Usage: $0 node|db" ;;
esac

# require_program NAME PATH HINT fails with HINT unless PATH is an executable file.
require_program() {
  if [ ! -f "$2" ] || [ ! -x "$2" ]; then
    fail "The $kind image needs $1, but $2 is missing or not executable. $3"
  fi
}

base="$("$here/base/build.sh")"

context="$root/.local-docker/build/context-$kind"
rm -rf "$context"
mkdir -p "$context/bin"
cp -a "$here/common/rootfs" "$context/common"
cp -a "$here/$kind/rootfs" "$context/$kind"
cp "$here/$kind/Dockerfile" "$context/Dockerfile"

if [ "$kind" = node ]; then
  fleetd="${STF_FARM_FLEETD:-$root/bin/local/fleetd}"
  fleetctl="${STF_FARM_FLEETCTL:-$root/bin/local/fleetctl}"
  runc="${STF_FARM_RUNC:-$root/bin/local/stf-farm-runc}"
  require_program fleetd "$fleetd" "Build it with: make local-bins"
  require_program fleetctl "$fleetctl" "Build it with: make local-bins"
  require_program stf-farm-runc "$runc" "Build it with: make local-bins"
  cp "$fleetd" "$context/bin/fleetd"
  cp "$fleetctl" "$context/bin/fleetctl"
  cp "$runc" "$context/bin/stf-farm-runc"
else
  standin="${STF_FARM_STANDIN:-$root/bin/local/stf-standin}"
  require_program stf-standin "$standin" \
    "Build the stand-in program, or set STF_STANDIN (make) or STF_FARM_STANDIN to a static binary that runs 'stf-standin rethinkdb'."
  cp "$standin" "$context/bin/stf-standin"
fi

# A checkout made with a umask of 002 has group-writable files, which sshd and systemd
# warn about. So every file gets the same modes, whatever the checkout's umask.
chmod -R u+rwX,go+rX,go-w "$context"

inputs="$(
  {
    printf 'base %s\n' "$base"
    cd "$context"
    find . -print0 | sort -z | xargs -0 stat -c '%n %a %F'
    find . -type f -print0 | sort -z | xargs -0 sha256sum
  } | sha256sum | cut -c1-16
)"
tag="stf-farm/$kind:local"

current="$("$docker_bin" image inspect -f '{{index .Config.Labels "stf-farm.inputs"}}' "$tag" 2>/dev/null || true)"
if [ "$current" = "$inputs" ]; then
  log "The image $tag is up to date (inputs $inputs)."
  exit 0
fi
previous="$("$docker_bin" image inspect -f '{{.Id}}' "$tag" 2>/dev/null || true)"

log "Building $tag from $base (inputs $inputs)."
start=$(date +%s)
# The classic builder is chosen explicitly: BuildKit may try to reach a registry for the
# base image's metadata, and the base exists only in this engine.
DOCKER_BUILDKIT=0 "$docker_bin" build --quiet \
  --build-arg "BASE=$base" \
  --label "stf-farm.inputs=$inputs" \
  --tag "$tag" \
  "$context" >/dev/null
log "Built $tag in $(($(date +%s) - start)) s."

# The previous image has lost its tag. It is removed unless a container still uses it.
if [ -n "$previous" ] && [ "$previous" != "$("$docker_bin" image inspect -f '{{.Id}}' "$tag")" ]; then
  "$docker_bin" image rm "$previous" >/dev/null 2>&1 || true
fi
