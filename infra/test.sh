#!/usr/bin/env bash
# `pnpm test`: makes the four servers reachable and Chromium present (installing them as root on
# Debian/Ubuntu, otherwise stopping at once with what to install), then runs every vitest project.
# Arguments go to vitest.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "$ROOT/infra/servers.sh" up
CHROMIUM_PATH=$(bash "$ROOT/infra/chromium.sh")
export CHROMIUM_PATH
cd "$ROOT"
exec pnpm exec vitest run "$@"
