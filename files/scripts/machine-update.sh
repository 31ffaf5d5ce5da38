applied="$(applied_digest)"
write_machine_files
prepare_docker
project_dir=$(pwd)
cd "$FARM_DIR"
state="$(machine_state)"
if [ "$state" = "not_created" ]; then
  log "$FARM_MACHINE does not exist any more; booting it again."
  vagrant up --provider="$FARM_PROVIDER" "$FARM_MACHINE" >&2
elif [ "$applied" = "$(files_digest)" ]; then
  # Vagrant reads the same files as at the last boot, so the command changed or the
  # program found the machine down. A running machine is left as it is.
  if [ "$state" = "running" ]; then
    log "$FARM_MACHINE runs with these settings already; nothing to do."
  else
    log "$FARM_MACHINE is $state; starting it."
    vagrant up --provider="$FARM_PROVIDER" "$FARM_MACHINE" >&2
  fi
else
  # Memory, CPUs, USB filters and cloud-config apply on a reboot with provisioning, so
  # the machine and its disk are kept. A stopped machine boots with them.
  log "Reloading $FARM_MACHINE ($state) to apply the new settings."
  vagrant reload --provision "$FARM_MACHINE" >&2
fi
cd "$project_dir"
record_boot
