write_machine_files
cd "$FARM_DIR"
log "Booting $FARM_MACHINE with the $FARM_PROVIDER provider."
vagrant up --provider="$FARM_PROVIDER" "$FARM_MACHINE" >&2
report_machine
