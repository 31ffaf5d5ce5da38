# fleet units are immutable, so a unit that exists under this name (an older version)
# is destroyed before the new file is submitted.
fleet destroy "$FARM_UNIT" >&2 || true
log "Starting $FARM_UNIT."
start_unit
