# Vagrant needs the machine's definition to destroy it, and its data file may have been
# removed since the machine was created, so the files are written again first. Vagrant
# finds the machine by the id it keeps in the folder's .vagrant/; without that id, the
# machine is unknown to Vagrant and destroy does nothing.
write_machine_files
if [ "$FARM_PROVIDER" = docker ] && [ -z "${DOCKER_HOST:-}" ]; then
  DOCKER_HOST="$(local/dockerd.sh start)"
  export DOCKER_HOST
fi
project_dir=$(pwd)
cd "$FARM_DIR"
log "Destroying $FARM_MACHINE."
# A machine that was already removed reports not_created, and destroy is then a no-op.
vagrant destroy -f "$FARM_MACHINE" >&2
cd "$project_dir"
rm -f "$FARM_DIR/machines/$FARM_MACHINE.json" "$FARM_DIR/$FARM_MACHINE_EXTRA_PATH" "$(boot_record)"
remove_docker_network
