#!/usr/bin/env bash
# Builds the base image that the node and db images start from: a Debian root file
# system made by debootstrap with the packages in local/images/base/packages, imported into the
# Docker engine named by DOCKER_HOST.
#
#   local/images/base/build.sh    print the base image's tag, building it first when needed
#
# The tag is stf-farm/base:<hash>, where <hash> covers the package list, the Debian
# release and this script, so an unchanged base is never built twice. Older
# stf-farm/base tags are removed after a new base is built.
#
# debootstrap downloads the packages from the Debian mirror that this host's apt uses
# (the first entry of /etc/apt/sources.list or /etc/apt/sources.list.d/ whose suite is
# this host's release), or from STF_FARM_DEBIAN_MIRROR when that is set. Needs root.
set -eu

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
build_dir="$root/.local-docker/build"
docker_bin=/usr/bin/docker

# The Debian release of the machines. It is fixed, not taken from the host, because the
# images rely on what this release's systemd 252, etcd 3.4 and docker.io 20.10 do.
suite=bookworm

log() {
  printf '%s\n' "$*" >&2
}

fail() {
  log "$*"
  exit 1
}

# packages prints the package list as one comma-separated line.
packages() {
  grep -v '^[[:space:]]*#' "$here/packages" | tr -s ' \t\n' '\n' | grep . | paste -sd, -
}

# host_mirror prints the URI of the first Debian entry in apt's sources whose suite is
# the host's release, in either the one-line or the deb822 format.
host_mirror() {
  host_suite="$(. /etc/os-release && printf '%s' "${VERSION_CODENAME:-}")"
  [ -n "$host_suite" ] || return 1
  files=""
  for file in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    if [ -f "$file" ]; then
      files="$files $file"
    fi
  done
  [ -n "$files" ] || return 1
  # shellcheck disable=SC2086 # The list is a set of paths without spaces.
  awk -v suite="$host_suite" '
    function check(types, uris, suites,   n, t, s, i, j) {
      if (types !~ /(^|[ \t])deb([ \t]|$)/) return
      n = split(suites, s, /[ \t]+/)
      for (i = 1; i <= n; i++) {
        if (s[i] == suite) {
          split(uris, t, /[ \t]+/)
          for (j = 1; j in t; j++) if (t[j] != "") { print t[j]; found = 1; exit }
        }
      }
    }
    FNR == 1 { flush() }
    FILENAME ~ /\.sources$/ {
      if ($0 ~ /^[ \t]*$/) { flush(); next }
      if ($0 ~ /^[ \t]*#/) next
      line = $0
      if (match(line, /^[A-Za-z-]+:/)) {
        key = tolower(substr(line, 1, RLENGTH - 1))
        value = substr(line, RLENGTH + 1)
        gsub(/^[ \t]+|[ \t]+$/, "", value)
        field[key] = value
      }
      next
    }
    /^[ \t]*deb[ \t]/ {
      line = $0
      sub(/#.*/, "", line)
      gsub(/\[[^]]*\]/, "", line)
      split(line, w, /[ \t]+/)
      k = 1
      while (w[k] == "") k++
      check(w[k], w[k + 1], w[k + 2])
    }
    function flush() {
      if (("types" in field) && tolower(field["enabled"]) != "no")
        check(field["types"], field["uris"], field["suites"])
      delete field
    }
    END { if (!found) flush() }
  ' $files | head -n 1
}

packages_line="$(packages)"
inputs_hash="$(
  {
    printf 'suite=%s\npackages=%s\n' "$suite" "$packages_line"
    cat "$0"
  } | sha256sum | cut -c1-16
)"
tag="stf-farm/base:$inputs_hash"

if "$docker_bin" image inspect "$tag" >/dev/null 2>&1; then
  log "The base image $tag is up to date."
  printf '%s\n' "$tag"
  exit 0
fi

command -v debootstrap >/dev/null 2>&1 ||
  fail "debootstrap is not installed. Install it with: make local-deps (or: apt-get install -y --no-install-recommends debootstrap)"
[ "$(id -u)" = 0 ] || fail "Building the base image runs debootstrap, which needs root."

mirror="${STF_FARM_DEBIAN_MIRROR:-}"
if [ -z "$mirror" ]; then
  mirror="$(host_mirror || true)"
fi
[ -n "$mirror" ] ||
  fail "No Debian mirror was found in this host's apt sources. Set STF_FARM_DEBIAN_MIRROR to the URI of a Debian mirror that serves $suite."

rootfs="$build_dir/rootfs-$inputs_hash"

# cleanup removes the half-built root file system. debootstrap mounts /proc and /sys in
# it while it installs, so any mount left by a failed run is unmounted first, and rm
# never crosses into another file system.
cleanup() {
  if [ -d "$rootfs" ]; then
    findmnt -rn -o TARGET | grep -F "$rootfs/" | sort -r | while read -r mount; do
      umount -l "$mount" || true
    done
    rm -rf --one-file-system "$rootfs"
  fi
}
trap cleanup EXIT
cleanup
mkdir -p "$build_dir"

log "Running debootstrap for $suite from $mirror; this takes a few minutes the first time."
start=$(date +%s)
if ! debootstrap --variant=minbase --include="$packages_line" "$suite" "$rootfs" "$mirror" \
  >"$build_dir/debootstrap.log" 2>&1; then
  tail -n 20 "$build_dir/debootstrap.log" >&2
  fail "debootstrap failed; its full output is in $build_dir/debootstrap.log."
fi
log "debootstrap finished in $(($(date +%s) - start)) s."

# Each container must get its own identity at boot: systemd writes a new machine ID into
# an empty /etc/machine-id (fleet keys machines on it), and the node and db images
# generate sshd's host keys when sshd first starts. Package caches and the apt sources
# are removed, since machines have no network access to a mirror.
: >"$rootfs/etc/machine-id"
rm -f "$rootfs/var/lib/dbus/machine-id"
rm -f "$rootfs"/etc/ssh/ssh_host_*
rm -f "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/cache/apt/*.bin
rm -rf "$rootfs"/var/lib/apt/lists/*
rm -f "$rootfs/etc/apt/sources.list"
rm -rf "$rootfs"/etc/apt/sources.list.d/*
# Documentation and translations take about 60 MB and are not needed on a machine.
# The packages' copyright files stay.
find "$rootfs/usr/share/doc" -xdev -type f ! -name copyright -delete
rm -rf "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* "$rootfs"/usr/share/locale/*

log "Importing the root file system as $tag."
tar --numeric-owner -C "$rootfs" -c . |
  "$docker_bin" import --change 'CMD ["/sbin/init"]' --change "LABEL stf-farm.inputs=$inputs_hash" - "$tag" >/dev/null

# New builds no longer use earlier bases. Removing the tag of a base that an image still
# uses only removes the name, and a failed removal is ignored.
"$docker_bin" image ls --format '{{.Repository}}:{{.Tag}}' stf-farm/base | while read -r old; do
  if [ "$old" != "$tag" ]; then
    "$docker_bin" image rm "$old" >/dev/null 2>&1 || true
  fi
done

printf '%s\n' "$tag"
