# write_machine_files lays out the Vagrant project of the farm: the shared Vagrantfile,
# this machine's data file, and its cloud-config or provisioning script.
write_machine_files() {
  if [ ! -f Pulumi.yaml ]; then
    log "Machine commands run in the project folder (with Pulumi.yaml), not in $(pwd)."
    exit 1
  fi
  write_file "$FARM_DIR/Vagrantfile" "$FARM_VAGRANTFILE"
  write_file "$FARM_DIR/machines/$FARM_MACHINE.json" "$FARM_MACHINE_DATA"
  write_file "$FARM_DIR/$FARM_MACHINE_EXTRA_PATH" "$FARM_MACHINE_EXTRA"
}

# files_digest prints the digest of the Vagrantfile and machine files this command
# applies.
files_digest() {
  # No pipe into cut: a failing sha256sum must stop the script, not print nothing.
  digest="$(printf '%s\n%s\n%s' "$FARM_VAGRANTFILE" "$FARM_MACHINE_DATA" "$FARM_MACHINE_EXTRA" | sha256sum)"
  printf '%s' "${digest%% *}"
}

# boot_record is the file in which a successful boot records the FARM_STARTS value it
# ran with and the digest of the files it applied. The program reads the first to detect
# a machine that is down (see the vagrant package). machine-update.sh reads the second
# to decide whether the machine needs a reload.
boot_record() {
  printf '%s' "$FARM_DIR/machines/$FARM_MACHINE.applied"
}

applied_digest() {
  sed -n 's/^files //p' "$(boot_record)" 2>/dev/null || true
}

record_boot() {
  write_file "$(boot_record)" "$(printf 'starts %s\nfiles %s\n' "$FARM_STARTS" "$(files_digest)")"
}

# prepare_docker readies the docker provider: the engine (the project's own, which
# local/dockerd.sh starts, unless DOCKER_HOST names another), the farm's network with the
# stack's subnet, and the SSH key the nodes accept. Machines boot side by side, so this
# runs under a lock.
prepare_docker() {
  [ "$FARM_PROVIDER" = docker ] || return 0
  mkdir -p "$FARM_DIR/ssh" "$FARM_DOCKER_IMAGES"
  until mkdir "$FARM_DIR/ssh/lock" 2>/dev/null; do sleep 0.2; done
  trap 'rmdir "$FARM_DIR/ssh/lock" 2>/dev/null || true' EXIT
  if [ -z "${DOCKER_HOST:-}" ]; then
    DOCKER_HOST="$(local/dockerd.sh start)"
    export DOCKER_HOST
  fi
  # The images are built on this host; a missing one must not send docker to a registry.
  if ! docker image inspect "$FARM_DOCKER_IMAGE" >/dev/null 2>&1; then
    log "The image $FARM_DOCKER_IMAGE is missing from the Docker engine at $DOCKER_HOST. Build it with 'make images'."
    exit 1
  fi
  local/network.sh ensure "$FARM_DOCKER_NETWORK" "$FARM_NETWORK" >&2
  if [ ! -f "$FARM_DIR/ssh/id_ed25519" ]; then
    ssh-keygen -q -t ed25519 -N "" -C "stf-farm" -f "$FARM_DIR/ssh/id_ed25519" >&2
  fi
  rmdir "$FARM_DIR/ssh/lock"
  trap - EXIT
}

# remove_docker_network removes the farm's network once no machine uses it.
remove_docker_network() {
  [ "$FARM_PROVIDER" = docker ] || return 0
  if [ -n "$(ls "$FARM_DIR/machines/"*.json 2>/dev/null)" ]; then
    return 0
  fi
  local/network.sh remove "$FARM_DOCKER_NETWORK" >&2 || log "The network $FARM_DOCKER_NETWORK is still in use; it stays."
}

machine_state() {
  vagrant status --machine-readable "$FARM_MACHINE" | awk -F, '$3 == "state" { print $4 }'
}

# report_machine prints what Vagrant and the machine itself report, in sections that
# stf-farm parses: the address used downstream is the one the machine has, not the one
# in the stack configuration.
report_machine() {
  echo "== status"
  vagrant status --machine-readable "$FARM_MACHINE"
  echo "== ssh-config"
  vagrant ssh-config "$FARM_MACHINE"
  echo "== addresses"
  vagrant ssh "$FARM_MACHINE" -c "ip -4 -o addr show"
}
