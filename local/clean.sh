#!/usr/bin/env bash
# Removes the farm's containers, networks and images from the Docker engine named by
# DOCKER_HOST (by default the engine of this checkout, started when needed), and the
# image build folder. `make local-clean` runs it.
#
# Every image built here carries the label stf-farm.inputs, and so do the containers
# made from them. Networks carry the label stf-farm (local/network.sh and the tests add
# it). The engine is shared by everything in this checkout, so a farm that runs in it
# is removed too.
set -eu

root="$(cd "$(dirname "$0")/.." && pwd)"
docker_bin=/usr/bin/docker
if [ -z "${DOCKER_HOST:-}" ]; then
  DOCKER_HOST="$("$root/local/dockerd.sh" start)"
fi
export DOCKER_HOST

# Anonymous volumes (a node's /var/lib/docker) go with their containers.
containers="$("$docker_bin" ps --all --quiet --filter label=stf-farm.inputs)"
if [ -n "$containers" ]; then
  # shellcheck disable=SC2086 # One argument per container ID.
  "$docker_bin" rm --force --volumes $containers >/dev/null
fi

networks="$("$docker_bin" network ls --quiet --filter label=stf-farm)"
if [ -n "$networks" ]; then
  # shellcheck disable=SC2086 # One argument per network ID.
  "$docker_bin" network rm $networks >/dev/null
fi

# Docker keeps a parent image while a child exists, so the bases go last.
images="$("$docker_bin" image ls --quiet --filter label=stf-farm.inputs | sort -u)"
bases="$("$docker_bin" image ls --quiet stf-farm/base | sort -u)"
children=""
for id in $images; do
  if ! printf '%s\n' "$bases" | grep -qxF "$id"; then
    children="$children $id"
  fi
done
for group in "$children" "$bases"; do
  if [ -n "$(printf '%s' "$group" | tr -d ' \n')" ]; then
    # shellcheck disable=SC2086 # One argument per image ID.
    "$docker_bin" image rm --force $group >/dev/null
  fi
done

rm -rf "$root/.local-docker/build"
count() {
  printf '%s\n' $1 | grep -c . || true
}
printf 'Removed %s container(s), %s network(s) and %s image(s).\n' \
  "$(count "$containers")" "$(count "$networks")" "$(count "$images")" >&2
