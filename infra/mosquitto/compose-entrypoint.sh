#!/bin/sh
# The broker of compose.yaml: Mosquitto with mosquitto-dynsec.conf in the eclipse-mosquitto image,
# set up as README.md's recipe sets up a production broker. The registry's admin client
# (registry-admin, MQTT_ADMIN_PASSWORD) is made with the plugin's state on the first start; the
# gateway's role and client (telecare-gateway-mqtt, MQTT_GATEWAY_PASSWORD) once the broker answers,
# whenever it is missing. Devices get theirs from the registry.
set -eu

conf=/mosquitto/config/mosquitto.conf
state=/var/lib/mosquitto
root="${TELECARE_NAMESPACE:-telecare}/v1/devices"

# mosquitto-dynsec.conf names the plugin where Debian installs it; the image has it in /usr/lib.
plugin=$(awk '$1 == "plugin" { print $2 }' "$conf")
if [ -n "$plugin" ] && [ ! -e "$plugin" ]; then
  mkdir -p "$(dirname "$plugin")"
  ln -s /usr/lib/mosquitto_dynamic_security.so "$plugin"
fi

mkdir -p "$state"
if [ ! -f "$state/dynsec.json" ]; then
  mosquitto_ctrl dynsec init "$state/dynsec.json" registry-admin "$MQTT_ADMIN_PASSWORD" >/dev/null
fi
# Mosquitto reads and writes its state as the user it drops to.
chown -R mosquitto:mosquitto "$state"
chmod 600 "$state/dynsec.json"

gateway_login() {
  ctl() {
    mosquitto_ctrl -h mosquitto -p 8883 --cafile /etc/mosquitto/certs/ca.crt \
      -u registry-admin -P "$MQTT_ADMIN_PASSWORD" dynsec "$@"
  }
  tries=0
  until ctl listRoles >/dev/null 2>&1; do
    tries=$((tries + 1))
    [ "$tries" -lt 60 ] || { echo "compose-entrypoint: the broker never answered mosquitto_ctrl" >&2; return 1; }
    sleep 1
  done
  ctl getClient telecare-gateway-mqtt >/dev/null 2>&1 && return 0
  # The gateway's ACLs, as dynsec.sh writes them; a role left half made by an earlier try is completed.
  ctl createRole telecare-gateway || true
  ctl addRoleACL telecare-gateway subscribePattern "$root/+/events" allow || true
  ctl addRoleACL telecare-gateway subscribePattern "$root/+/status" allow || true
  ctl addRoleACL telecare-gateway subscribePattern "\$share/+/$root/+/events" allow || true
  ctl addRoleACL telecare-gateway subscribePattern "\$share/+/$root/+/status" allow || true
  ctl addRoleACL telecare-gateway publishClientSend "$root/+/ack" allow || true
  ctl addRoleACL telecare-gateway publishClientSend "$root/+/config" allow || true
  ctl addRoleACL telecare-gateway subscribeLiteral '$SYS/broker/log/N' allow || true
  ctl createClient telecare-gateway-mqtt -c "${TELECARE_NAMESPACE:-telecare}-gateway-mqtt" -p "$MQTT_GATEWAY_PASSWORD"
  ctl addClientRole telecare-gateway-mqtt telecare-gateway
  echo "compose-entrypoint: the gateway's client telecare-gateway-mqtt made"
}
gateway_login &

# Started as root, Mosquitto reads its configuration, then runs as the user mosquitto.
exec /usr/sbin/mosquitto -c "$conf"
