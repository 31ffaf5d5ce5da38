#!/usr/bin/env bash
# Starts, stops or reports the Docker engine that runs the farm's machines on this host
# when the stack's provider is "docker".
#
#   local/dockerd.sh start    start the engine unless it runs; print its DOCKER_HOST
#   local/dockerd.sh stop     stop the engine (it stops its containers first)
#   local/dockerd.sh status   print its DOCKER_HOST; exit 0 when it responds, 3 when not
#
# The engine is private to this checkout: images and containers live under
# .local-docker/ at the top of the repository, and its socket, PID file and runtime state
# live under /run/stf-farm-docker/<id>, where <id> is derived from the checkout's path
# (unix socket paths are limited to 107 bytes, so they stay short). It never touches a
# Docker engine of the host. Standard output is only the DOCKER_HOST value, so that
#
#   export DOCKER_HOST="$(local/dockerd.sh start)"
#
# points a shell at it; progress and errors go to standard error.
#
# Needs the docker.io package (`make local-deps` installs it) and the runtime wrapper
# that `make local-bins` builds into bin/local/stf-farm-runc (STF_FARM_RUNC overrides it).
set -eu

root="$(cd "$(dirname "$0")/.." && pwd)"
state_dir="$root/.local-docker"
id="$(printf '%s' "$root" | sha256sum | cut -c1-12)"
run_dir="/run/stf-farm-docker/$id"
socket="$run_dir/docker.sock"
pidfile="$run_dir/dockerd.pid"
log_file="$state_dir/dockerd.log"
runtime_path="${STF_FARM_RUNC:-$root/bin/local/stf-farm-runc}"
docker_host="unix://$socket"

# The docker.io package installs the 20.10 client as /usr/bin/docker. Another client may
# come earlier in PATH, so the scripts name this one explicitly.
docker_bin=/usr/bin/docker
dockerd_bin=/usr/sbin/dockerd

# Seconds to wait for the engine to respond after start, and to exit after stop. Stopping
# waits for every container to stop, and each gets up to 10 s after its stop signal.
start_timeout=60
stop_timeout=90

log() {
  printf '%s\n' "$*" >&2
}

fail() {
  log "$*"
  exit 1
}

responds() {
  DOCKER_HOST="$docker_host" "$docker_bin" version --format '{{.Server.Version}}' >/dev/null 2>&1
}

# daemon_pid prints the PID in the PID file when that process is this checkout's dockerd.
daemon_pid() {
  [ -f "$pidfile" ] || return 1
  pid="$(cat "$pidfile")"
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
  if tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$socket"; then
    printf '%s\n' "$pid"
  else
    return 1
  fi
}

check_installed() {
  if [ ! -x "$dockerd_bin" ] || [ ! -x "$docker_bin" ]; then
    fail "The Docker engine is not installed ($dockerd_bin or $docker_bin is missing). Install it with: make local-deps (or: apt-get install -y --no-install-recommends docker.io)"
  fi
  if [ ! -x "$runtime_path" ]; then
    fail "The runtime wrapper $runtime_path is missing. Build it with: make local-bins"
  fi
}

start() {
  check_installed
  mkdir -p "$state_dir" "$run_dir"
  # The folder ignores itself, so git never lists the engine's data.
  if [ ! -f "$state_dir/.gitignore" ]; then
    printf '*\n' >"$state_dir/.gitignore"
  fi

  # Two starts at the same time would race for the same data root.
  exec 9>"$run_dir/start.lock"
  flock 9

  if responds; then
    log "The Docker engine of this checkout is already running."
    printf '%s\n' "$docker_host"
    return 0
  fi
  if pid="$(daemon_pid)"; then
    fail "dockerd (PID $pid) runs but does not respond on $socket. Stop it with: $0 stop"
  fi

  # An empty configuration file keeps a host-wide /etc/docker/daemon.json from applying.
  config="$state_dir/daemon.json"
  if [ ! -f "$config" ]; then
    printf '{}\n' >"$config"
  fi

  # Why each flag:
  #   --bridge=none and the --ip* flags: no docker0 bridge, no iptables rules and no
  #     forwarding changes on the host. Machines use one user network with a fixed
  #     subnet, created per stack, which needs none of them.
  #   --dns 127.0.0.1: containers resolve no names outside, even when a caller forgets
  #     to pass --dns.
  #   --add-runtime and --default-runtime: every container starts through the wrapper,
  #     which removes capabilities that this host's bounding set lacks. Without it
  #     `docker run --privileged` fails with "unable to apply caps".
  #   --config-file: this engine ignores the host's /etc/docker/daemon.json.
  log "Starting the Docker engine of this checkout (log: $log_file)."
  setsid "$dockerd_bin" \
    --config-file "$config" \
    --data-root "$state_dir/data" \
    --exec-root "$run_dir/exec" \
    --pidfile "$pidfile" \
    -H "$docker_host" \
    --bridge=none \
    --iptables=false \
    --ip6tables=false \
    --ip-forward=false \
    --ip-masq=false \
    --dns 127.0.0.1 \
    --add-runtime "stf-farm-runc=$runtime_path" \
    --default-runtime stf-farm-runc \
    </dev/null >>"$log_file" 2>&1 9>&- &
  started=$!

  deadline=$(($(date +%s) + start_timeout))
  until responds; do
    if ! kill -0 "$started" 2>/dev/null; then
      log "dockerd exited during start. The end of $log_file:"
      tail -n 20 "$log_file" >&2
      exit 1
    fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
      fail "dockerd did not respond on $socket within $start_timeout s; see $log_file."
    fi
    sleep 0.2
  done
  log "The Docker engine responds on $socket."
  printf '%s\n' "$docker_host"
}

stop() {
  if ! pid="$(daemon_pid)"; then
    log "The Docker engine of this checkout is not running."
    return 0
  fi
  log "Stopping dockerd (PID $pid); it stops its containers first."
  kill -TERM "$pid"
  deadline=$(($(date +%s) + stop_timeout))
  while kill -0 "$pid" 2>/dev/null; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
      log "dockerd (PID $pid) did not exit within $stop_timeout s; sending SIGKILL."
      kill -KILL "$pid" 2>/dev/null || true
      break
    fi
    sleep 0.5
  done
  # dockerd normally stops the containerd it started. After a SIGKILL that containerd
  # is left behind, and its PID file names it.
  containerd_pidfile="$run_dir/exec/containerd/containerd.pid"
  if [ -f "$containerd_pidfile" ]; then
    cpid="$(cat "$containerd_pidfile")"
    if [ -n "$cpid" ] && kill -0 "$cpid" 2>/dev/null &&
      tr '\0' ' ' <"/proc/$cpid/cmdline" | grep -qF -- "$run_dir/exec/containerd"; then
      log "Stopping the containerd (PID $cpid) that dockerd left running."
      kill -TERM "$cpid" 2>/dev/null || true
    fi
  fi
  log "The Docker engine of this checkout is stopped."
}

status() {
  printf '%s\n' "$docker_host"
  if responds; then
    log "The Docker engine of this checkout is running."
    return 0
  fi
  if pid="$(daemon_pid)"; then
    log "dockerd (PID $pid) runs but does not respond on $socket."
  else
    log "The Docker engine of this checkout is not running. Start it with: $0 start"
  fi
  return 3
}

case "${1:-}" in
start) start ;;
stop) stop ;;
status) status ;;
*)
  log "Usage: $0 start|stop|status"
  exit 2
  ;;
esac
