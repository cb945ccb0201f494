#!/usr/bin/env bash
# Finds the Chromium the console's browser tests drive (Debian's package, never a downloaded one).
# Prints its path. As root on Debian/Ubuntu it installs the package when it is missing; otherwise
# it stops at once with the one command to run.
#
#   CHROMIUM_PATH   where to look (default /usr/bin/chromium)
#   TELECARE_APT=0  never install, only find or explain
set -euo pipefail

CHROMIUM_PATH=${CHROMIUM_PATH:-/usr/bin/chromium}
log() { printf '[chromium] %s\n' "$*" >&2; }

if [[ -x $CHROMIUM_PATH ]]; then
  printf '%s\n' "$CHROMIUM_PATH"
  exit 0
fi

debian_like() { [[ -r /etc/os-release ]] && grep -Eq '^(ID|ID_LIKE)=.*(debian|ubuntu)' /etc/os-release; }

if [[ ${TELECARE_APT:-1} != 0 && $(id -u) == 0 ]] && debian_like && command -v apt-get >/dev/null 2>&1; then
  log "installing Debian's chromium for the browser tests"
  export DEBIAN_FRONTEND=noninteractive
  # Waits for an install already running (an image's first boot) instead of failing on its lock.
  apt=(apt-get -o DPkg::Lock::Timeout=600)
  "${apt[@]}" install -y -qq --no-install-recommends chromium >&2 ||
    { "${apt[@]}" update -qq >&2 && "${apt[@]}" install -y -qq --no-install-recommends chromium >&2; } ||
    { log "apt-get install chromium failed"; exit 1; }
  [[ -x $CHROMIUM_PATH ]] || { log "installed chromium but $CHROMIUM_PATH is still missing"; exit 1; }
  printf '%s\n' "$CHROMIUM_PATH"
  exit 0
fi

log "the console's browser tests need Chromium at $CHROMIUM_PATH, and it is missing."
log "install it with:  sudo apt-get install -y chromium"
log "(or set CHROMIUM_PATH to a Chromium binary)"
exit 1
