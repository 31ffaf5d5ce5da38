#!/bin/sh
# Installs RethinkDB on the db machine and starts it listening on every interface.
set -eu
export DEBIAN_FRONTEND=noninteractive

if ! command -v rethinkdb >/dev/null 2>&1; then
  . /etc/lsb-release
  apt-get update -q
  apt-get install -y -q ca-certificates curl gnupg
  curl -fsSL https://download.rethinkdb.com/repository/raw/pubkey.gpg |
    gpg --dearmor --yes -o /usr/share/keyrings/rethinkdb-archive-keyrings.gpg
  echo "deb [signed-by=/usr/share/keyrings/rethinkdb-archive-keyrings.gpg] https://download.rethinkdb.com/repository/ubuntu-${DISTRIB_CODENAME} ${DISTRIB_CODENAME} main" \
    > /etc/apt/sources.list.d/rethinkdb.list
  apt-get update -q
  apt-get install -y -q rethinkdb
fi

conf=/etc/rethinkdb/instances.d/default.conf
if [ ! -f "$conf" ]; then
  cp /etc/rethinkdb/default.conf.sample "$conf"
fi
sed -i 's/^#* *bind=.*/bind=all/' "$conf"

# `service rethinkdb start` under systemd leaves the server stopped on some Ubuntu
# releases, so the init script is called directly.
/etc/init.d/rethinkdb restart
