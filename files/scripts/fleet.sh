# fleet runs fleetctl against the cluster's etcd. fleetctl 1.0 needs --driver=etcd to
# talk to etcd's port 2379; without it every call fails with 404.
fleet() {
  fleetctl --driver=etcd --endpoint="$FARM_FLEET_ENDPOINT" --request-timeout=3 "$@"
}

# unit_rows prints fleet's rows for the unit: one row, or one per machine for a global
# unit, each as "unit machine active sub".
unit_rows() {
  fleet list-units --no-legend --full --fields=unit,machine,active,sub |
    awk -v unit="$FARM_UNIT" '$1 == unit'
}

# start_unit submits the unit file when fleet does not have the unit yet, starts it and
# waits until fleet reports it active on as many machines as expected.
start_unit() {
  dir=$(mktemp -d)
  trap 'rm -rf "$dir"' EXIT
  (umask 077 && printf '%s' "$FARM_UNIT_TEXT" > "$dir/$FARM_UNIT")
  fleet start --no-block "$dir/$FARM_UNIT" >&2

  deadline=$(($(date +%s) + FARM_UNIT_TIMEOUT))
  while :; do
    rows=$(unit_rows)
    active=$(printf '%s\n' "$rows" | awk '$3 == "active"' | grep -c . || true)
    if [ "$active" -ge "$FARM_UNIT_EXPECTED" ]; then
      break
    fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
      log "Unit $FARM_UNIT was not active on $FARM_UNIT_EXPECTED machine(s) within $FARM_UNIT_TIMEOUT s. fleet reports:"
      log "${rows:-(no rows)}"
      exit 1
    fi
    sleep 1
  done
  echo "$rows"
}
