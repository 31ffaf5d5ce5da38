#!/usr/bin/env bash
# Creates or removes the Docker network that contains a farm's machines, in the engine of
# this checkout (DOCKER_HOST when set, else the one local/dockerd.sh reports).
#
#   local/network.sh ensure NAME SUBNET   create NAME with SUBNET (CIDR) unless it exists;
#                                         fail when NAME exists with another subnet
#   local/network.sh remove NAME          remove NAME when it exists (its containers
#                                         must be removed first)
#
# The network is a user-defined bridge with a fixed subnet, so machines keep the
# addresses that the stack configures (docker run --ip). The engine runs without
# iptables rules and IP forwarding, so the host reaches the machines over the bridge
# (its address is the subnet's first address), and nothing routes their traffic
# further. The label stf-farm lets `make local-clean` find the network.
set -eu

docker_bin=/usr/bin/docker
if [ -z "${DOCKER_HOST:-}" ]; then
  DOCKER_HOST="$("$(dirname "$0")/dockerd.sh" status 2>/dev/null || true)"
fi
export DOCKER_HOST

fail() {
  printf '%s\n' "$*" >&2
  exit 1
}

subnet_of() {
  "$docker_bin" network inspect -f '{{range .IPAM.Config}}{{.Subnet}} {{end}}' "$1" 2>/dev/null
}

case "${1:-}" in
ensure)
  [ $# -eq 3 ] || fail "Usage: $0 ensure NAME SUBNET"
  name="$2"
  subnet="$3"
  if existing="$(subnet_of "$name")"; then
    existing="${existing% }"
    if [ "$existing" != "$subnet" ]; then
      fail "The network $name exists with subnet $existing, not $subnet. Remove it with: $0 remove $name"
    fi
    exit 0
  fi
  "$docker_bin" network create --driver bridge --subnet "$subnet" --label stf-farm "$name" >/dev/null
  printf 'Created the network %s with subnet %s.\n' "$name" "$subnet" >&2
  ;;
remove)
  [ $# -eq 2 ] || fail "Usage: $0 remove NAME"
  if subnet_of "$2" >/dev/null; then
    "$docker_bin" network rm "$2" >/dev/null
    printf 'Removed the network %s.\n' "$2" >&2
  fi
  ;;
*)
  fail "Usage: $0 ensure NAME SUBNET | remove NAME"
  ;;
esac
