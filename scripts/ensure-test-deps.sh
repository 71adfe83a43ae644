#!/usr/bin/env bash
# The test suite runs real system programs: Mosquitto (real-broker interop), openssl (test
# certificates) and systemd-analyze (the unit file check). Only checks: says what to install and
# fails when something is missing (installing is .ci/run's job, not the test command's).
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
echo "the tests need these Debian packages: $packages" >&2
echo "install them first: bash scripts/install-test-deps.sh   (it runs apt-get; .ci/run calls it on a fresh machine)" >&2
exit 1
