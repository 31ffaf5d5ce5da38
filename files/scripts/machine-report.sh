cd "$FARM_DIR"
report_machine
