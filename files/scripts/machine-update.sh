write_machine_files
prepare_docker
cd "$FARM_DIR"
if [ "$(machine_state)" = "not_created" ]; then
  log "$FARM_MACHINE does not exist any more; booting it again."
  vagrant up --provider="$FARM_PROVIDER" "$FARM_MACHINE" >&2
else
  # Memory, CPUs, USB filters and cloud-config apply on a reboot with provisioning, so
  # the machine and its disk are kept.
  log "Reloading $FARM_MACHINE to apply the new settings."
  vagrant reload --provision "$FARM_MACHINE" >&2
fi
