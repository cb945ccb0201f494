#!/usr/bin/env bash
# The TLS files compose.yaml mounts from infra/certs/: a CA of the deployment's own, and for each
# server a certificate it signed naming the compose service the services reach it by.
#
#   bash infra/certs.sh [dir]        # dir: infra/certs
#
# Environment: MQTT_PUBLIC_NAMES, extra DNS names for the broker's certificate (comma-separated:
# the name devices connect to), CERT_DAYS (825).
#
# Files: ca.crt (TELECARE_TLS_CA of every service), ca.key (keep it off the servers once done),
# and <server>.crt, <server>.key for nats, mosquitto, redis (its servers and Sentinels) and
# postgres (its primary and standby). Each key is readable by
# its server alone: owned by the user the server's image runs it as (PostgreSQL and Redis 999,
# Mosquitto 1883, NATS root), mode 0600 (PostgreSQL refuses a key others can read). Run as root
# for the ownership; otherwise the script says what to chown. An existing CA is kept, so servers'
# certificates can be made again (renewed, a name added) without touching the services.
set -euo pipefail

dir=${1:-$(dirname "$0")/certs}
days=${CERT_DAYS:-825}
mkdir -p "$dir"
# Private to its owner: containers see the files through their bind mounts, not through the folder.
chmod 700 "$dir"

ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)

if [ ! -f "$dir/ca.key" ]; then
  openssl req -x509 "${ec[@]}" -keyout "$dir/ca.key" -out "$dir/ca.crt" -days 3650 \
    -subj /CN=telecare-ca -addext basicConstraints=critical,CA:TRUE \
    -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
  chmod 600 "$dir/ca.key"
fi

# server, the user its image runs it as, the names the services reach it by (compose.yaml), its
# usages: a NATS node is also the TLS client of the routes it opens to the others, which take a
# route only from a certificate with clientAuth (nats/nats-*.conf, cluster tls); a Redis replica and
# the Sentinels are the TLS clients of the servers they copy and watch (one certificate for the
# five, naming each: any of them may be given out by the Sentinels).
servers=(
  "nats 0 DNS:telecare-nats-1,DNS:telecare-nats-2,DNS:telecare-nats-3 serverAuth,clientAuth"
  "mosquitto 1883 DNS:mosquitto serverAuth"
  "redis 999 DNS:redis-1,DNS:redis-2,DNS:redis-sentinel-1,DNS:redis-sentinel-2,DNS:redis-sentinel-3 serverAuth,clientAuth"
  "postgres 999 DNS:postgres-1,DNS:postgres-2 serverAuth"
)

unowned=()
for entry in "${servers[@]}"; do
  read -r name uid names usages <<<"$entry"
  if [ "$name" = mosquitto ] && [ -n "${MQTT_PUBLIC_NAMES:-}" ]; then
    names="$names,$(echo "$MQTT_PUBLIC_NAMES" | sed 's/[^,]\+/DNS:&/g')"
  fi
  ext=$(mktemp)
  printf '%s\n' "subjectAltName=$names" basicConstraints=CA:FALSE \
    keyUsage=critical,digitalSignature,keyEncipherment "extendedKeyUsage=$usages" >"$ext"
  openssl req -new "${ec[@]}" -keyout "$dir/$name.key" -out "$dir/$name.csr" -subj "/CN=$name" 2>/dev/null
  openssl x509 -req -in "$dir/$name.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -CAcreateserial \
    -out "$dir/$name.crt" -days "$days" -extfile "$ext" 2>/dev/null
  rm -f "$ext" "$dir/$name.csr"
  chmod 600 "$dir/$name.key"
  chmod 644 "$dir/$name.crt"
  chown "$uid:$uid" "$dir/$name.key" 2>/dev/null || unowned+=("chown $uid:$uid $dir/$name.key")
done
chmod 644 "$dir/ca.crt"

echo "TLS files in $dir (CA: $dir/ca.crt)"
if [ ${#unowned[@]} -gt 0 ]; then
  echo "not root: give each server its key (as root):" >&2
  printf '  %s\n' "${unowned[@]}" >&2
fi
