if [ "$FARM_PROVIDER" = docker ] && [ -z "${DOCKER_HOST:-}" ]; then
  DOCKER_HOST="$(local/dockerd.sh start)"
  export DOCKER_HOST
fi
cd "$FARM_DIR"
report_machine
