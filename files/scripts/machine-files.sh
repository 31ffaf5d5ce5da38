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
