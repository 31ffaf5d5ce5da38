#!/usr/bin/env bash
# Builds the images that the units of the local farm run, from programs of this host,
# and saves them where every node loads them at boot (.local-docker/images):
#
#   stf-farm/stf:local         the STF stand-in (tools/standin), for devicefarmer/stf
#   stf-farm/adb:local         Debian's adb server, for devicefarmer/adb
#   stf-farm/ambassador:local  socat forwarding port 28015 to RethinkDB, for the ambassador
#   stf-farm/nginx:local       Debian's nginx, for the nginx image
#
# Each image is FROM scratch with the program, the shared libraries it loads and
# BusyBox for a shell, so it stays small and the build needs no network. An image whose
# inputs are unchanged is not built or saved again. Needs the packages adb, socat, nginx
# and busybox-static, and the stand-in that `make local-bins` builds.
set -eu

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
docker_bin=/usr/bin/docker
standin="${STF_STANDIN:-$root/bin/local/stf-standin}"
out="$root/.local-docker/images"
work="$root/.local-docker/build/services"

log() {
  printf '%s\n' "$*" >&2
}

fail() {
  log "$*"
  exit 1
}

for program in /usr/bin/adb /usr/bin/socat /usr/sbin/nginx /bin/busybox "$standin"; do
  [ -x "$program" ] || fail "$program is missing. Install the Debian packages adb, socat, nginx and busybox-static (make local-deps), and build the stand-in (make local-bins)."
done
if [ -z "${DOCKER_HOST:-}" ]; then
  DOCKER_HOST="$("$root/local/dockerd.sh" start)"
  export DOCKER_HOST
fi

# add_program ROOTFS PROGRAM copies PROGRAM and every shared library it loads into ROOTFS
# at the same paths.
add_program() {
  local rootfs="$1" program="$2" lib
  install -D -m 0755 "$program" "$rootfs$program"
  for lib in $(ldd "$program" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'); do
    # The dynamic loader among them must be executable.
    install -D -m 0755 "$(readlink -f "$lib")" "$rootfs$lib"
  done
}

# add_busybox ROOTFS gives ROOTFS a shell and the usual tools.
add_busybox() {
  install -D -m 0755 /bin/busybox "$1/bin/busybox"
  ln -sf busybox "$1/bin/sh"
}

# build NAME CONTEXT builds the image from CONTEXT/Dockerfile unless an image built from
# the same context exists, and saves it to the images folder.
build() {
  local name="$1" context="$2" inputs archive
  # The hash covers each file's content, mode and path, and the links.
  inputs="$(cd "$context" && {
    find . -type f -print0 | sort -z | xargs -0 sha256sum
    find . \( -type f -o -type l \) -printf '%m %p %l\n' | sort
  } | sha256sum | cut -c1-16)"
  archive="$out/$(printf '%s' "$name" | tr '/:' '__').tar"
  if [ "$("$docker_bin" image inspect -f '{{index .Config.Labels "stf-farm.inputs"}}' "$name" 2>/dev/null)" = "$inputs" ] &&
    [ -f "$archive" ] && [ "$(cat "$archive.inputs" 2>/dev/null)" = "$inputs" ]; then
    log "$name is up to date."
    return
  fi
  log "Building $name."
  "$docker_bin" build -q --label "stf-farm.inputs=$inputs" -t "$name" "$context" >/dev/null
  mkdir -p "$out"
  "$docker_bin" save -o "$archive.tmp" "$name"
  mv -f "$archive.tmp" "$archive"
  printf '%s\n' "$inputs" >"$archive.inputs"
}

rm -rf "$work"
mkdir -p "$work"

# The STF stand-in runs as `stf SUBCOMMAND`, as STF's image does.
mkdir -p "$work/stf"
install -D -m 0755 "$standin" "$work/stf/stf"
cat >"$work/stf/Dockerfile" <<'DOCKERFILE'
FROM scratch
COPY stf /usr/local/bin/stf
COPY stf /usr/local/bin/stf-standin
DOCKERFILE
build stf-farm/stf:local "$work/stf"

mkdir -p "$work/adb/rootfs/root" "$work/adb/rootfs/tmp"
add_program "$work/adb/rootfs" /usr/bin/adb
add_busybox "$work/adb/rootfs"
cat >"$work/adb/Dockerfile" <<'DOCKERFILE'
FROM scratch
COPY rootfs/ /
ENV HOME=/root
# The server listens on every address, as STF's adb image does, so the provider reaches it.
CMD ["/usr/bin/adb", "-a", "-P", "5037", "server", "nodaemon"]
DOCKERFILE
build stf-farm/adb:local "$work/adb"

mkdir -p "$work/ambassador/rootfs/tmp"
add_program "$work/ambassador/rootfs" /usr/bin/socat
add_busybox "$work/ambassador/rootfs"
cp "$here/ambassador" "$work/ambassador/rootfs/ambassador"
chmod 0755 "$work/ambassador/rootfs/ambassador"
cat >"$work/ambassador/Dockerfile" <<'DOCKERFILE'
FROM scratch
COPY rootfs/ /
EXPOSE 28015
CMD ["/ambassador"]
DOCKERFILE
build stf-farm/ambassador:local "$work/ambassador"

rootfs="$work/nginx/rootfs"
mkdir -p "$rootfs/etc" "$rootfs/var/log/nginx" "$rootfs/run" "$rootfs/tmp"
for temp in body proxy fastcgi uwsgi scgi; do
  mkdir -p "$rootfs/var/lib/nginx/$temp"
done
add_program "$rootfs" /usr/sbin/nginx
add_busybox "$rootfs"
# nginx runs its workers as nobody, the built-in default user.
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$rootfs/etc/passwd"
printf 'root:x:0:\nnobody:x:65534:\nnogroup:x:65534:\n' >"$rootfs/etc/group"
cat >"$work/nginx/Dockerfile" <<'DOCKERFILE'
FROM scratch
COPY rootfs/ /
STOPSIGNAL SIGQUIT
CMD ["/usr/sbin/nginx", "-g", "daemon off;"]
DOCKERFILE
build stf-farm/nginx:local "$work/nginx"

log "The unit images are in $out."
