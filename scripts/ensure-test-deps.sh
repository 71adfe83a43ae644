#!/usr/bin/env bash
# The test suite runs real system programs: Mosquitto (real-broker interop), openssl (test
# certificates) and systemd-analyze (the unit file check). Installs whatever is missing when it can
# (root with apt-get, as on a fresh Debian machine); otherwise says what to install.
set -euo pipefail

declare -A package_of=(
  [/usr/sbin/mosquitto]=mosquitto
  [/usr/bin/mosquitto_passwd]=mosquitto
  [/usr/bin/openssl]=openssl
  [/usr/bin/systemd-analyze]=systemd
)
missing=()
for program in "${!package_of[@]}"; do
  [ -x "$program" ] || missing+=("${package_of[$program]}")
done
[ ${#missing[@]} -eq 0 ] && exit 0

packages=$(printf '%s\n' "${missing[@]}" | sort -u | tr '\n' ' ')
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "tests need: $packages; installing them with apt-get" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # shellcheck disable=SC2086
  apt-get install -y -qq --no-install-recommends $packages >/dev/null
else
  echo "the tests need these Debian packages: $packages" >&2
  echo "install them first: sudo apt-get install $packages" >&2
  exit 1
fi
