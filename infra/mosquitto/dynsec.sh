#!/usr/bin/env bash
# A Mosquitto with the dynamic security plugin for device credentials, on loopback, with the
# admin client the registry drives it as and the gateway's client and role (see README.md).
#
#   ADMIN_PASSWORD=… GATEWAY_PASSWORD=… infra/mosquitto/dynsec.sh up <dir>
#   infra/mosquitto/dynsec.sh down <dir>
#
# <dir> holds dynsec.json (the plugin's state: clients, roles, hashed passwords), mosquitto.conf,
# mosquitto.pid and mosquitto.log. `up` on a <dir> that has a dynsec.json starts the broker with
# the clients it already has (the passwords are not needed then, and not changed).
#
# Environment: DYNSEC_PORT (1884), TELECARE_NAMESPACE (telecare: the topic root the gateway may
# read and its client id, <namespace>-gateway-mqtt), MOSQUITTO_DYNSEC_PLUGIN (found in the usual Debian and Ubuntu places).
set -euo pipefail

usage() {
  echo "usage: [ADMIN_PASSWORD=… GATEWAY_PASSWORD=…] $0 up|down <dir>" >&2
  exit 2
}
[ $# -eq 2 ] || usage
action=$1
dir=$2
port=${DYNSEC_PORT:-1884}
root="${TELECARE_NAMESPACE:-telecare}/v1/devices"
# The one client id the gateway's login is admitted with (gateway-mqtt derives the same).
gateway_id="${TELECARE_NAMESPACE:-telecare}-gateway-mqtt"

case $action in
down)
  if [ -f "$dir/mosquitto.pid" ]; then
    pid=$(cat "$dir/mosquitto.pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    rm -f "$dir/mosquitto.pid"
  fi
  exit 0
  ;;
up) ;;
*) usage ;;
esac

for tool in mosquitto mosquitto_ctrl; do
  command -v "$tool" >/dev/null || {
    echo "$tool is missing: install mosquitto and mosquitto-clients (2.x)" >&2
    exit 1
  }
done
plugin=${MOSQUITTO_DYNSEC_PLUGIN:-}
if [ -z "$plugin" ]; then
  for candidate in /usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so \
    /usr/lib/aarch64-linux-gnu/mosquitto_dynamic_security.so /usr/lib/mosquitto_dynamic_security.so \
    /usr/local/lib/mosquitto_dynamic_security.so; do
    [ -f "$candidate" ] && plugin=$candidate && break
  done
fi
[ -n "$plugin" ] || {
  echo "mosquitto_dynamic_security.so not found: set MOSQUITTO_DYNSEC_PLUGIN" >&2
  exit 1
}

mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
fresh=false
if [ ! -f "$dir/dynsec.json" ]; then
  : "${ADMIN_PASSWORD:?set ADMIN_PASSWORD (the registry logs in as registry-admin with it)}"
  : "${GATEWAY_PASSWORD:?set GATEWAY_PASSWORD (gateway-mqtt logs in as telecare-gateway-mqtt with it)}"
  # The plugin's state starts with one client, registry-admin, holding the admin role.
  mosquitto_ctrl dynsec init "$dir/dynsec.json" registry-admin "$ADMIN_PASSWORD" >/dev/null
  chmod 600 "$dir/dynsec.json"
  fresh=true
fi

cat >"$dir/mosquitto.conf" <<CONF
listener $port 127.0.0.1
allow_anonymous false
plugin $plugin
plugin_opt_config_file $dir/dynsec.json
set_tcp_nodelay true
max_packet_size 65536
max_queued_messages 100000
max_queued_bytes 268435456
persistence false
log_dest file $dir/mosquitto.log
log_dest topic
pid_file $dir/mosquitto.pid
user $(id -un)
CONF

if [ -f "$dir/mosquitto.pid" ] && kill -0 "$(cat "$dir/mosquitto.pid")" 2>/dev/null; then
  echo "already running (pid $(cat "$dir/mosquitto.pid"))" >&2
  exit 1
fi
rm -f "$dir/mosquitto.pid"
# -d: Mosquitto forks and writes its pid to pid_file once it listens (or exits on an error).
mosquitto -c "$dir/mosquitto.conf" -d
for _ in $(seq 1 50); do [ -s "$dir/mosquitto.pid" ] && break; sleep 0.1; done
[ -s "$dir/mosquitto.pid" ] || {
  echo "mosquitto did not start: see $dir/mosquitto.log" >&2
  exit 1
}
pid=$(cat "$dir/mosquitto.pid")

if $fresh; then
  # mosquitto_ctrl warns on every call that the link is not encrypted (it is loopback): shown
  # only when a command fails.
  ctl() {
    local out
    out=$(mosquitto_ctrl -h 127.0.0.1 -p "$port" -u registry-admin -P "$ADMIN_PASSWORD" dynsec "$@" 2>&1) || {
      echo "$out" >&2
      return 1
    }
  }
  for _ in $(seq 1 50); do ctl listRoles 2>/dev/null && break; sleep 0.1; done
  # The gateway reads every device's events and status and answers on each device's ack and
  # config topics; nothing else. Devices get their own client and role from the registry.
  ctl createRole telecare-gateway
  ctl addRoleACL telecare-gateway subscribePattern "$root/+/events" allow
  ctl addRoleACL telecare-gateway subscribePattern "$root/+/status" allow
  # The same as a member of a shared subscription group of several gateways (any group name):
  # Mosquitto checks a shared subscription against its whole filter, $share/<group>/ included.
  ctl addRoleACL telecare-gateway subscribePattern "\$share/+/$root/+/events" allow
  ctl addRoleACL telecare-gateway subscribePattern "\$share/+/$root/+/status" allow
  ctl addRoleACL telecare-gateway publishClientSend "$root/+/ack" allow
  # The broker's connection log, where the gateway sees a device's login taken over again and
  # again from two places (infra/mosquitto/README.md, "Takeovers"). No device role may read it.
  ctl addRoleACL telecare-gateway subscribeLiteral '$SYS/broker/log/N' allow
  ctl addRoleACL telecare-gateway publishClientSend "$root/+/config" allow
  ctl createClient telecare-gateway-mqtt -c "$gateway_id" -p "$GATEWAY_PASSWORD"
  ctl addClientRole telecare-gateway-mqtt telecare-gateway
fi
echo "dynamic-security Mosquitto on 127.0.0.1:$port (pid $pid, state in $dir)"
