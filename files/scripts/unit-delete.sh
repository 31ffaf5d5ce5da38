if ! fleet destroy "$FARM_UNIT" >&2; then
  if ! fleet list-machines --no-legend >/dev/null 2>&1; then
    # Units are deleted before the machines they run on, so a cluster that responds on
    # none of its endpoints has been removed already, and the unit with it.
    log "The fleet cluster at $FARM_FLEET_ENDPOINT does not answer; $FARM_UNIT is gone with it."
    exit 0
  fi
  exit 1
fi
