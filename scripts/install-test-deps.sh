#!/usr/bin/env bash
# Installs the Debian packages the test suite runs: Mosquitto (real-broker interop), openssl (test
# certificates), systemd (systemd-analyze verify of the unit file) and the Erlang runtime of the
# real EMQX 5.3.2 the interop suite starts (../shared/emqx/emqx.sh deps). Run once per machine,
# before `npm test`, which only checks for them (scripts/ensure-test-deps.sh). Uses sudo when not root.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo --preserve-env=DEBIAN_FRONTEND "$@"; fi
}

packages=(mosquitto openssl systemd)
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  as_root apt-get update -qq
  as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
as_root bash ../shared/emqx/emqx.sh deps
