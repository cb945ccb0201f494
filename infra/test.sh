#!/usr/bin/env bash
# `pnpm test`: makes the four servers reachable and Chromium present (installing them as root on
# Debian/Ubuntu, otherwise stopping at once with what to install), then runs every vitest project.
# Arguments go to vitest.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "$ROOT/infra/servers.sh" up
CHROMIUM_PATH=$(bash "$ROOT/infra/chromium.sh")
export CHROMIUM_PATH
# The TLS tests make throwaway certificates with the openssl command (testkit, infra/certs.sh).
if ! command -v openssl >/dev/null 2>&1; then
  if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null 2>&1; then
    echo "[test] apt-get install -y openssl" >&2
    apt=(apt-get -o DPkg::Lock::Timeout=600)
    DEBIAN_FRONTEND=noninteractive "${apt[@]}" update -qq >&2
    DEBIAN_FRONTEND=noninteractive "${apt[@]}" install -y -qq openssl >&2
  else
    echo "[test] error: the openssl command is missing; install it with:  sudo apt-get install -y openssl" >&2
    exit 1
  fi
fi
cd "$ROOT"
# The property tests generate the same cases on every run of one commit (its id is the seed), so a
# failure met once is met again there; PROPERTY_SEED=random (or a number) to explore further.
if [[ -z ${PROPERTY_SEED:-} ]]; then
  PROPERTY_SEED=$(git rev-parse --short=8 HEAD 2>/dev/null || echo random)
fi
export PROPERTY_SEED
echo "property tests: PROPERTY_SEED=$PROPERTY_SEED" >&2
exec pnpm exec vitest run "$@"
