# The folder may have been removed since the machine was created, and Vagrant needs the
# machine's definition to destroy it, so the files are written again first.
write_machine_files
cd "$FARM_DIR"
log "Destroying $FARM_MACHINE."
# A machine that was already removed reports not_created, and destroy is then a no-op.
vagrant destroy -f "$FARM_MACHINE" >&2
rm -f "$FARM_DIR/machines/$FARM_MACHINE.json" "$FARM_DIR/$FARM_MACHINE_EXTRA_PATH"
