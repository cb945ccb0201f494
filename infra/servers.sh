#!/usr/bin/env bash
# Makes Mosquitto, NATS (JetStream), Redis and PostgreSQL reachable for development and CI.
#
#   bash infra/servers.sh up     [name...]   reuse what answers, start the rest locally
#   bash infra/servers.sh down   [name...]   stop only the servers this script started
#   bash infra/servers.sh status [name...]   each server, its URL, ours / external / down
#   bash infra/servers.sh ours               names of running servers this script started
#
# Names: mosquitto nats redis postgres. Addresses come from MQTT_URL, NATS_URL, REDIS_URL,
# DATABASE_URL. Servers we start live under ${TELECARE_DATA_DIR:-<repo>/.data}/servers/<name>/.
# With TELECARE_SERVER_TLS_CERT, _KEY and _CA (PEM files) the servers we start take TLS only.
# See infra/README.md.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DATA_DIR=${TELECARE_DATA_DIR:-$ROOT/.data}
SERVERS_DIR=$DATA_DIR/servers
TIMEOUT=${TELECARE_SERVER_TIMEOUT:-30}

MQTT_URL=${MQTT_URL:-mqtt://127.0.0.1:1883}
NATS_URL=${NATS_URL:-nats://127.0.0.1:4222}
REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379}
DATABASE_URL=${DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/telecare}

ALL=(mosquitto nats redis postgres)

# The certificate, key and CA of the servers we start: set, they take TLS connections only.
TLS_CERT=${TELECARE_SERVER_TLS_CERT:-}
TLS_KEY=${TELECARE_SERVER_TLS_KEY:-}
TLS_CA=${TELECARE_SERVER_TLS_CA:-}

log() { printf '[servers] %s\n' "$*" >&2; }
die() { printf '[servers] error: %s\n' "$*" >&2; exit 1; }

url_of() {
  case $1 in
    mosquitto) printf '%s' "$MQTT_URL" ;;
    nats) printf '%s' "${NATS_URL%%,*}" ;; # a comma-separated seed list: the first one is ours to check
    redis) printf '%s' "$REDIS_URL" ;;
    # libpq's several hosts (db1:5432,db2:5432): the first one is ours to check.
    postgres) sed -E 's#^([a-z]+://([^@/?]*@)?[^,/?]*)(,[^/?]*)?#\1#' <<<"$DATABASE_URL" ;;
    *) die "unknown server '$1' (expected one of: ${ALL[*]})" ;;
  esac
}

default_port() {
  case $1 in mosquitto) echo 1883 ;; nats) echo 4222 ;; redis) echo 6379 ;; postgres) echo 5432 ;; esac
}

# Debian/Ubuntu package that provides each server.
package_of() {
  case $1 in mosquitto) echo mosquitto ;; nats) echo nats-server ;; redis) echo redis-server ;; postgres) echo postgresql ;; esac
}

# Sets U_HOST U_PORT U_USER U_PASS U_DB from a URL such as scheme://user:pass@host:port/db?x=y
parse_url() {
  local url=$1 rest authority userinfo=''
  rest=${url#*://}
  authority=${rest%%/*}
  authority=${authority%%\?*}
  U_DB=''
  if [[ $rest == */* ]]; then U_DB=${rest#*/}; U_DB=${U_DB%%\?*}; fi
  if [[ $authority == *@* ]]; then userinfo=${authority%@*}; authority=${authority##*@}; fi
  U_USER=${userinfo%%:*}
  U_PASS=''
  if [[ $userinfo == *:* ]]; then U_PASS=${userinfo#*:}; fi
  U_PORT=''
  if [[ $authority == \[* ]]; then
    U_HOST=${authority#\[}; U_HOST=${U_HOST%%\]*}
    local after=${authority#*\]}
    U_PORT=${after#:}
  else
    U_HOST=${authority%%:*}
    if [[ $authority == *:* ]]; then U_PORT=${authority##*:}; fi
  fi
  U_HOST=${U_HOST:-127.0.0.1}
  U_PORT=${U_PORT:-$2}
  [[ $U_PORT =~ ^[0-9]+$ ]] && ((U_PORT >= 1 && U_PORT <= 65535)) \
    || die "cannot read a TCP port from '$(redact "$url")'"
}

urldecode() { local s=${1//+/ }; printf '%b' "${s//%/\\x}"; }
redact() { sed -E 's#(://[^:/@]*):[^@/]*@#\1:***@#' <<<"$1"; }

is_loopback() { [[ $1 == localhost || $1 == 127.* || $1 == ::1 ]]; }
bind_host() { if [[ $1 == localhost ]]; then echo 127.0.0.1; else echo "$1"; fi; }

# True when something accepts a TCP connection on host:port.
answers() { timeout 2 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$1" "$2" 2>/dev/null; }

# kill -0 also succeeds for a zombie (some container inits reap them only now and then), and fails
# for a live process of another user: /proc answers both where it exists.
alive() {
  if [[ -r /proc/$1/stat ]]; then
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    [[ ${stat:0:1} != Z ]]
  else
    kill -0 "$1" 2>/dev/null
  fi
}

dir_of() { echo "$SERVERS_DIR/$1"; }

tls_wanted() {
  [[ -n $TLS_CERT || -n $TLS_KEY || -n $TLS_CA ]] || return 1
  [[ -r $TLS_CERT && -r $TLS_KEY && -r $TLS_CA ]] \
    || die "TELECARE_SERVER_TLS_CERT, TELECARE_SERVER_TLS_KEY and TELECARE_SERVER_TLS_CA must all name readable files"
}

# Copies the TLS files into a server's folder, the key readable by its owner alone (PostgreSQL
# refuses a key others can read).
tls_copy() {
  local dir=$1
  cp "$TLS_CERT" "$dir/tls.crt"
  cp "$TLS_KEY" "$dir/tls.key"
  cp "$TLS_CA" "$dir/tls-ca.crt"
  chmod 600 "$dir/tls.key"
}

pidfile_of() {
  case $1 in
    postgres) echo "$(dir_of postgres)/data/postmaster.pid" ;;
    *) echo "$(dir_of "$1")/$1.pid" ;;
  esac
}

logfile_of() { echo "$(dir_of "$1")/$1.log"; }

# Prints the pid of the server we started when it is still running. A pid file whose process is
# gone (or was reused by an unrelated program) does not count.
our_pid() {
  local pf pid binary
  pf=$(pidfile_of "$1")
  [[ -r $pf ]] || return 1
  pid=$(head -n1 "$pf" 2>/dev/null | tr -dc '0-9')
  [[ -n $pid ]] || return 1
  alive "$pid" || return 1
  case $1 in mosquitto) binary=mosquitto ;; nats) binary=nats-server ;; redis) binary=redis-server ;; postgres) binary=postgres ;; esac
  if [[ -r /proc/$pid/cmdline ]]; then
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$binary" || return 1
  fi
  echo "$pid"
}

log_tail() {
  local f=$1
  if [[ -s $f ]]; then
    printf '[servers] --- last lines of %s ---\n' "$f" >&2
    tail -n 30 "$f" >&2
    printf '[servers] ---\n' >&2
  else
    printf '[servers] (log %s is empty or missing)\n' "$f" >&2
  fi
}

# --- binaries ---------------------------------------------------------------------------------

find_bin() {
  local name=$1 d
  if command -v "$name" >/dev/null 2>&1; then command -v "$name"; return 0; fi
  for d in /usr/sbin /usr/local/sbin /usr/local/bin /opt/homebrew/bin; do
    if [[ -x $d/$name ]]; then echo "$d/$name"; return 0; fi
  done
  # Debian keeps PostgreSQL's server tools out of PATH, one directory per major version.
  if [[ $name == initdb || $name == pg_ctl || $name == postgres || $name == psql || $name == pg_basebackup ]]; then
    d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)
    if [[ -n $d && -x $d/$name ]]; then echo "$d/$name"; return 0; fi
  fi
  return 1
}

is_debian_like() {
  [[ -r /etc/os-release ]] || return 1
  local id
  id=$(. /etc/os-release && echo " ${ID:-} ${ID_LIKE:-} ")
  [[ $id == *" debian "* || $id == *" ubuntu "* ]]
}

APT_UPDATED=0
apt_install() {
  if [[ $APT_UPDATED == 0 ]]; then
    log "apt-get update"
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 update -qq >&2
    APT_UPDATED=1
  fi
  log "apt-get install -y $*"
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq "$@" >&2
}

# Finds a binary; installs its package when we are root on Debian/Ubuntu; otherwise explains.
require_bin() {
  local bin=$1 pkg=$2 what=$3
  if find_bin "$bin"; then return 0; fi
  if [[ $(id -u) == 0 ]] && is_debian_like; then
    apt_install "$pkg"
    find_bin "$bin" && return 0
    die "installed package '$pkg' but still cannot find '$bin'"
  fi
  {
    printf '[servers] error: %s is not reachable and "%s" is not installed.\n' "$what" "$bin"
    if is_debian_like; then
      printf '[servers] install it with:  sudo apt-get install -y %s\n' "$pkg"
    else
      printf '[servers] install the package that provides "%s" (Debian/Ubuntu: %s; macOS: brew install %s),\n' \
        "$bin" "$pkg" "$(case $pkg in redis-server) echo redis ;; postgresql) echo postgresql@15 ;; *) echo "$pkg" ;; esac)"
      printf '[servers] or point %s at a running server.\n' "$(case $what in Mosquitto) echo MQTT_URL ;; NATS) echo NATS_URL ;; Redis) echo REDIS_URL ;; *) echo DATABASE_URL ;; esac)"
    fi
  } >&2
  exit 1
}

# --- starting ---------------------------------------------------------------------------------

wait_until_answers() {
  local name=$1 host=$2 port=$3 pid_hint=${4:-} deadline
  deadline=$((SECONDS + TIMEOUT))
  while ! answers "$host" "$port"; do
    if ((SECONDS >= deadline)); then
      log "$name did not answer on $host:$port within ${TIMEOUT}s"
      log_tail "$(logfile_of "$name")"
      die "$name failed to start (data in $(dir_of "$name"))"
    fi
    if [[ -n $pid_hint ]] && ! alive "$pid_hint" && ! our_pid "$name" >/dev/null; then
      log "$name exited during start-up"
      log_tail "$(logfile_of "$name")"
      die "$name failed to start (data in $(dir_of "$name"))"
    fi
    sleep 0.2
  done
}

start_redis() {
  local host=$1 port=$2 dir bin
  dir=$(dir_of redis)
  bin=$(require_bin redis-server redis-server Redis)
  mkdir -p "$dir"
  local listen=(--port "$port")
  if tls_wanted; then
    tls_copy "$dir"
    listen=(--port 0 --tls-port "$port" --tls-cert-file "$dir/tls.crt" --tls-key-file "$dir/tls.key"
      --tls-ca-cert-file "$dir/tls-ca.crt" --tls-auth-clients no)
  fi
  "$bin" --bind "$host" "${listen[@]}" --daemonize yes \
    --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" --dir "$dir" \
    </dev/null >>"$dir/redis.log" 2>&1 9>&- || { log_tail "$dir/redis.log"; die "redis-server failed to start"; }
  wait_until_answers redis "$host" "$port"
}

start_nats() {
  local host=$1 port=$2 dir bin pid
  dir=$(dir_of nats)
  bin=$(require_bin nats-server nats-server NATS)
  mkdir -p "$dir/jetstream"
  local tls=()
  if tls_wanted; then
    tls_copy "$dir"
    tls=(--tls --tlscert "$dir/tls.crt" --tlskey "$dir/tls.key")
  fi
  # nats-server cannot daemonize itself on Linux: detach it into its own session.
  setsid "$bin" --addr "$host" --port "$port" --name "telecare-dev-$port" \
    --jetstream --store_dir "$dir/jetstream" --pid "$dir/nats.pid" --log "$dir/nats.log" "${tls[@]}" \
    </dev/null >>"$dir/nats.log" 2>&1 9>&- &
  pid=$!
  wait_until_answers nats "$host" "$port" "$pid"
}

start_mosquitto() {
  local host=$1 port=$2 dir bin
  dir=$(dir_of mosquitto)
  bin=$(require_bin mosquitto mosquitto Mosquitto)
  mkdir -p "$dir"
  local tls=''
  if tls_wanted; then
    tls_copy "$dir"
    tls="cafile $dir/tls-ca.crt
certfile $dir/tls.crt
keyfile $dir/tls.key"
  fi
  # Run as whoever runs this script: as root Mosquitto would otherwise switch to the
  # 'mosquitto' user, which cannot write under a private data dir.
  cat >"$dir/mosquitto.conf" <<EOF
# Written by infra/servers.sh for local development: anonymous access on loopback only.
listener $port $host
$tls
allow_anonymous true
persistence true
persistence_location $dir/
# Acks and alarms are small packets answered at once: Nagle's algorithm would hold each for a
# delayed ACK (~40 ms per hop).
set_tcp_nodelay true
# The gateway's persistent session may hold a burst while it restarts.
# Bounds (infra/mosquitto/README.md, "Limits"): a packet over 64 KiB disconnects its sender, so an
# oversized payload never reaches the gateway; a client's queue holds at most 100,000 messages and
# 256 MiB, beyond which the broker drops QoS 1 messages for it (devices resend until acked).
max_packet_size 65536
max_queued_messages 100000
max_queued_bytes 268435456
pid_file $dir/mosquitto.pid
log_dest file $dir/mosquitto.log
# Also on \$SYS/broker/log/N: gateway-mqtt reads each client's connects there and raises a device's
# login taken over again and again from two addresses (infra/mosquitto/README.md, "Takeovers").
log_dest topic
user $(id -un)
EOF
  "$bin" -c "$dir/mosquitto.conf" -d </dev/null >>"$dir/mosquitto.log" 2>&1 9>&- \
    || { log_tail "$dir/mosquitto.log"; die "mosquitto failed to start"; }
  wait_until_answers mosquitto "$host" "$port"
}

# Runs a PostgreSQL tool as the OS user that owns the cluster: postgres refuses to run as root.
as_pg_owner() {
  if [[ $(id -u) == 0 ]]; then
    getent passwd postgres >/dev/null || die "running as root needs a 'postgres' OS user to own the cluster (useradd --system postgres)"
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

start_postgres() {
  local host=$1 port=$2 user=$3 dir initdb pg_ctl
  dir=$(dir_of postgres)
  initdb=$(require_bin initdb postgresql PostgreSQL)
  pg_ctl=$(require_bin pg_ctl postgresql PostgreSQL)
  mkdir -p "$dir"
  if [[ $(id -u) == 0 ]]; then
    chown postgres: "$dir" 2>/dev/null || die "cannot hand $dir to the postgres OS user"
    runuser -u postgres -- test -w "$dir" \
      || die "the postgres OS user cannot reach $dir (a parent directory is private); set TELECARE_DATA_DIR to a path it can traverse"
  fi
  if [[ ! -f $dir/data/PG_VERSION && -n ${POSTGRES_STANDBY_OF:-} ]]; then
    # A hot standby streaming from the primary at host:port (its settings copied with its data).
    local basebackup
    basebackup=$(require_bin pg_basebackup postgresql PostgreSQL)
    log "pg_basebackup -R from $POSTGRES_STANDBY_OF into $dir/data (a streaming standby)"
    as_pg_owner "$basebackup" -D "$dir/data" -R -X stream -c fast \
      -h "${POSTGRES_STANDBY_OF%:*}" -p "${POSTGRES_STANDBY_OF##*:}" -U "$user" \
      >>"$dir/initdb.log" 2>&1 \
      || { log_tail "$dir/initdb.log"; die "pg_basebackup from $POSTGRES_STANDBY_OF failed"; }
  fi
  if [[ ! -f $dir/data/PG_VERSION ]]; then
    log "initdb $dir/data (superuser '$user', trust auth on loopback)"
    as_pg_owner "$initdb" -D "$dir/data" -U "$user" --auth=trust -E UTF8 --locale=C.UTF-8 \
      >>"$dir/initdb.log" 2>&1 \
      || as_pg_owner "$initdb" -D "$dir/data" -U "$user" --auth=trust -E UTF8 >>"$dir/initdb.log" 2>&1 \
      || { log_tail "$dir/initdb.log"; die "initdb failed"; }
    # TCP only: unix sockets would need a writable, short directory path.
    echo "unix_socket_directories = ''" >>"$dir/data/postgresql.conf"
  fi
  local tls=''
  if tls_wanted; then
    tls_copy "$dir"
    if [[ $(id -u) == 0 ]]; then chown postgres: "$dir/tls.crt" "$dir/tls.key" "$dir/tls-ca.crt"; fi
    tls=" -c ssl=on -c ssl_cert_file=$dir/tls.crt -c ssl_key_file=$dir/tls.key"
    # TLS only: no plaintext TCP connection is let in.
    as_pg_owner sed -i -E 's/^host([[:space:]])/hostssl\1/' "$dir/data/pg_hba.conf"
  fi
  # pg_ctl appends to the log as the cluster owner.
  touch "$dir/postgres.log"
  if [[ $(id -u) == 0 ]]; then chown postgres: "$dir/postgres.log"; fi
  as_pg_owner "$pg_ctl" start -D "$dir/data" -l "$dir/postgres.log" -w -t "$TIMEOUT" \
    -o "-p $port -c listen_addresses=$host$tls" </dev/null >/dev/null 2>&1 9>&- \
    || { log_tail "$dir/postgres.log"; die "PostgreSQL failed to start (data in $dir)"; }
  wait_until_answers postgres "$host" "$port"
}

# Creates the database named in DATABASE_URL when it is missing, on our server or an external one.
ensure_database() {
  parse_url "$DATABASE_URL" 5432
  local db psql admin_url exists
  db=$(urldecode "$U_DB")
  db=${db:-${U_USER:-postgres}}
  [[ $db == postgres ]] && return 0
  psql=$(require_bin psql postgresql-client "the psql client (to create database '$db')")
  # Same URL, maintenance database: keeps credentials and query options such as sslmode.
  admin_url=$(sed -E 's#^([a-z]+://[^/?]*)(/[^?]*)?#\1/postgres#' <<<"$DATABASE_URL")
  exists=$(PGCONNECT_TIMEOUT=5 "$psql" "$admin_url" -XtAq -v ON_ERROR_STOP=1 \
    -c "SELECT 1 FROM pg_database WHERE datname = '${db//\'/\'\'}'" 2>&1) \
    || die "cannot query PostgreSQL at $(redact "$admin_url"): $exists"
  if [[ $exists != 1 ]]; then
    local out
    out=$(PGCONNECT_TIMEOUT=5 "$psql" "$admin_url" -XtAq -v ON_ERROR_STOP=1 \
      -c "CREATE DATABASE \"${db//\"/\"\"}\"" 2>&1) \
      || [[ $out == *"already exists"* ]] \
      || die "cannot create database '$db': $out"
    log "postgres: created database '$db'"
  fi
}

up_one() {
  local name=$1 url pid
  url=$(url_of "$name")
  parse_url "$url" "$(default_port "$name")"
  local host=$U_HOST port=$U_PORT user=${U_USER:-postgres}
  if answers "$host" "$port"; then
    if pid=$(our_pid "$name"); then
      log "$name: ours, already running on $host:$port (pid $pid)"
    else
      log "$name: using the server already answering on $host:$port"
    fi
  else
    is_loopback "$host" \
      || die "$name is not reachable at $(redact "$url") and it is not a loopback address, so it cannot be started here"
    if pid=$(our_pid "$name"); then
      # Started by us but not answering yet (start-up in progress, or wedged): give it the timeout.
      log "$name: ours (pid $pid) but not answering yet; waiting"
      wait_until_answers "$name" "$host" "$port" "$pid"
    else
      [[ $name == postgres ]] || rm -f "$(pidfile_of "$name")"
      local bhost
      bhost=$(bind_host "$host")
      log "$name: nothing answers on $host:$port; starting one (data in $(dir_of "$name"))"
      "start_$name" "$bhost" "$port" "$user"
      # A package install may have started the distribution's own service on this port.
      if pid=$(our_pid "$name"); then
        log "$name: started on $bhost:$port (pid $pid)"
      else
        log "$name: answering on $host:$port"
      fi
    fi
  fi
  if [[ $name == postgres ]]; then ensure_database; fi
}

# --- stopping ---------------------------------------------------------------------------------

down_one() {
  local name=$1 pid i
  if ! pid=$(our_pid "$name"); then
    # A stale pid file goes; PostgreSQL judges its own postmaster.pid.
    [[ $name == postgres ]] || rm -f "$(pidfile_of "$name")" 2>/dev/null || true
    log "$name: nothing of ours running"
    return 0
  fi
  log "$name: stopping pid $pid"
  if [[ $name == postgres ]]; then
    as_pg_owner "$(find_bin pg_ctl)" stop -D "$(dir_of postgres)/data" -m fast -w -t 10 >/dev/null 2>&1 || true
  else
    kill -TERM "$pid" 2>/dev/null || true
  fi
  for ((i = 0; i < 100; i++)); do
    alive "$pid" || break
    sleep 0.1
  done
  if alive "$pid"; then
    log "$name: still running after 10s; SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    sleep 0.2
  fi
  [[ $name == postgres ]] || rm -f "$(pidfile_of "$name")"
  log "$name: stopped"
}

# --- status -----------------------------------------------------------------------------------

status_one() {
  local name=$1 url pid state
  url=$(url_of "$name")
  parse_url "$url" "$(default_port "$name")"
  if answers "$U_HOST" "$U_PORT"; then
    if pid=$(our_pid "$name"); then state="ours (pid $pid, $(dir_of "$name"))"; else state=external; fi
  else
    if pid=$(our_pid "$name"); then state="ours (pid $pid) but not answering"; else state=down; fi
    STATUS_RC=1
  fi
  printf '%-10s %-50s %s\n' "$name" "$(redact "$url")" "$state"
}

# --- main -------------------------------------------------------------------------------------

usage() {
  echo "usage: bash infra/servers.sh up|down|status|ours [$(IFS='|'; echo "${ALL[*]}")...]" >&2
  exit 2
}

lock() {
  mkdir -p "$SERVERS_DIR"
  if command -v flock >/dev/null 2>&1; then
    exec 9>"$SERVERS_DIR/.lock"
    flock -w 120 9 || die "another servers.sh holds $SERVERS_DIR/.lock"
  fi
}

cmd=${1:-}
[[ $# -gt 0 ]] && shift
names=("$@")
[[ ${#names[@]} -gt 0 ]] || names=("${ALL[@]}")
for n in "${names[@]}"; do url_of "$n" >/dev/null; done

case $cmd in
  up)
    lock
    for n in "${names[@]}"; do up_one "$n"; done
    ;;
  down)
    lock
    for n in "${names[@]}"; do down_one "$n"; done
    ;;
  status)
    STATUS_RC=0
    for n in "${names[@]}"; do status_one "$n"; done
    exit "$STATUS_RC"
    ;;
  ours)
    for n in "${names[@]}"; do
      if our_pid "$n" >/dev/null; then echo "$n"; fi
    done
    ;;
  *) usage ;;
esac
