# Sends the nginx image name and the new nginx.conf to the nginx machine, where
# proxy-install.sh checks the file with nginx -t before it replaces the live one.
key_dir=$(mktemp -d)
trap 'rm -rf "$key_dir"' EXIT
log "Uploading nginx.conf to $FARM_SSH_USER@$FARM_SSH_HOST:$FARM_SSH_PORT."
{
  printf '%s\n' "$FARM_NGINX_IMAGE"
  printf '%s' "$FARM_NGINX_CONF"
} | ssh -i "$FARM_SSH_KEY" -p "$FARM_SSH_PORT" \
  -o BatchMode=yes -o IdentitiesOnly=yes -o LogLevel=ERROR \
  -o StrictHostKeyChecking=no -o UserKnownHostsFile="$key_dir/known_hosts" \
  "$FARM_SSH_USER@$FARM_SSH_HOST" "$FARM_REMOTE_SCRIPT" >&2
