# Runs on the nginx machine. Reads the nginx image name on the first line of standard
# input and the new nginx.conf after it. Checks the file with nginx -t in that image,
# then replaces the live file in one rename and signals nginx to reload.
set -eu
sudo=""
if [ "$(id -u)" != 0 ]; then sudo="sudo -n"; fi
read -r image
$sudo mkdir -p /srv/nginx
$sudo sh -c 'cat > /srv/nginx/nginx.conf.new'
# The check runs on the host network, as nginx.service does, because nginx -t binds the
# listen addresses.
if ! $sudo docker run --rm --net host -v /srv/nginx:/etc/nginx/farm:ro "$image" \
  nginx -t -q -c /etc/nginx/farm/nginx.conf.new; then
  $sudo rm -f /srv/nginx/nginx.conf.new
  echo "The new nginx.conf failed nginx -t; the live configuration is unchanged." >&2
  exit 1
fi
$sudo mv -f /srv/nginx/nginx.conf.new /srv/nginx/nginx.conf
if [ "$($sudo docker inspect -f '{{.State.Running}}' nginx 2>/dev/null)" != "true" ]; then
  echo "nginx is not running yet; it reads the new configuration when fleet starts it." >&2
  exit 0
fi
if ! $sudo docker kill -s HUP nginx >/dev/null; then
  echo "nginx runs but did not receive the reload signal; run 'docker kill -s HUP nginx' on this machine." >&2
  exit 1
fi
echo "nginx reloaded the new configuration." >&2
