#!/bin/sh
# The standby's start in compose.yaml (as servers.sh does with POSTGRES_STANDBY_OF): on its first
# start, an empty data folder becomes a copy of the primary at POSTGRES_STANDBY_OF (host:port),
# streaming from it (pg_basebackup -R writes primary_conninfo and standby.signal), over TLS with
# the primary's name checked against the CA, as the replication role. Then the image's own
# entrypoint, which finds the data and runs PostgreSQL as a hot standby: read-only, until an
# operator promotes it (README.md, "PostgreSQL failing over").
set -eu
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  mkdir -p "$PGDATA"
  chown postgres: "$PGDATA"
  chmod 700 "$PGDATA"
  conninfo="host=${POSTGRES_STANDBY_OF%:*} port=${POSTGRES_STANDBY_OF##*:} user=$POSTGRES_REPLICATION_USER"
  conninfo="$conninfo password=$POSTGRES_REPLICATION_PASSWORD application_name=$POSTGRES_STANDBY_NAME"
  conninfo="$conninfo sslmode=verify-full sslrootcert=/etc/postgresql/certs/ca.crt"
  # The primary may still be starting (pg_basebackup leaves the folder empty when it fails).
  until gosu postgres pg_basebackup -D "$PGDATA" -R -X stream -c fast -d "$conninfo"; do
    echo "standby: no copy of $POSTGRES_STANDBY_OF yet; trying again in 5 s" >&2
    sleep 5
  done
fi
exec docker-entrypoint.sh "$@"
