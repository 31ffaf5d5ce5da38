write_machine_files
prepare_docker
project_dir=$(pwd)
cd "$FARM_DIR"
log "Booting $FARM_MACHINE with the $FARM_PROVIDER provider."
# A failed create is not recorded in the stack, so nothing would ever destroy a machine
# left behind by it: destroy it here before failing.
# The report check proves that the machine accepts SSH. machine-report.sh reads the
# report itself.
if ! vagrant up --provider="$FARM_PROVIDER" "$FARM_MACHINE" >&2 || ! report_machine >/dev/null; then
  log "Booting $FARM_MACHINE failed; destroying what was created so the next run starts clean."
  vagrant destroy -f "$FARM_MACHINE" >&2 || log "Destroying $FARM_MACHINE failed too; remove it with 'vagrant destroy -f $FARM_MACHINE' in $FARM_DIR."
  exit 1
fi
cd "$project_dir"
record_boot
