applied="$(applied_digest)"
write_machine_files
prepare_docker
project_dir=$(pwd)
cd "$FARM_DIR"
state="$(machine_state)"
if [ "$applied" = "$(files_digest)" ]; then
  # The command changed, or the program found the machine down, but Vagrant reads the
  # same files as at the last boot: a running machine keeps running untouched.
  case "$state" in
    running)
      log "$FARM_MACHINE runs with these settings already; nothing to do." ;;
    not_created)
      log "$FARM_MACHINE does not exist any more; booting it again."
      vagrant up --provider="$FARM_PROVIDER" "$FARM_MACHINE" >&2 ;;
    *)
      log "$FARM_MACHINE is $state; starting it."
      vagrant up --provider="$FARM_PROVIDER" "$FARM_MACHINE" >&2 ;;
  esac
elif [ "$state" = "not_created" ]; then
  log "$FARM_MACHINE does not exist any more; booting it again."
  vagrant up --provider="$FARM_PROVIDER" "$FARM_MACHINE" >&2
else
  # Memory, CPUs, USB filters and cloud-config apply on a reboot with provisioning, so
  # the machine and its disk are kept. A stopped machine boots with them.
  log "Reloading $FARM_MACHINE ($state) to apply the new settings."
  vagrant reload --provision "$FARM_MACHINE" >&2
fi
cd "$project_dir"
record_boot
