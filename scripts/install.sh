#!/bin/sh
# Installs ftagent on a device: the bundle in /opt/ftagent, a config in /etc/ftagent (kept if one
# exists), the state dir /var/lib/ftagent, a systemd unit, and a `ftagent` command on the PATH.
#
#   sudo scripts/install.sh [--bundle dist/ftagent.js] [--heap-mb 32] [--no-enable] [--root DIR]
#
# --root installs into DIR instead of / and touches no running service (used by the tests).
set -eu

bundle=dist/ftagent.js
heap_mb=32
enable=1
root=

while [ $# -gt 0 ]; do
  case "$1" in
    --bundle) bundle=$2; shift 2 ;;
    --heap-mb) heap_mb=$2; shift 2 ;;
    --no-enable) enable=0; shift ;;
    --root) root=$2; enable=0; shift 2 ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

prefix=/opt/ftagent
confdir=/etc/ftagent
config=$confdir/config.json
statedir=/var/lib/ftagent
unitdir=/etc/systemd/system
here=$(cd "$(dirname "$0")" && pwd)

[ -f "$bundle" ] || { echo "install.sh: $bundle not found: run 'npm run build' first" >&2; exit 2; }
node=$(command -v node) || { echo "install.sh: node not found: install Node.js 18 or newer (apt install nodejs)" >&2; exit 2; }
major=$("$node" -p 'process.versions.node.split(".")[0]')
[ "$major" -ge 18 ] || { echo "install.sh: $node is Node $major; ftagent needs Node 18 or newer" >&2; exit 2; }

install -d -m 0755 "$root$prefix" "$root$unitdir" "$root/usr/local/bin"
install -m 0755 "$bundle" "$root$prefix/ftagent.js"
[ -f "$here/../README.md" ] && install -m 0644 "$here/../README.md" "$root$prefix/README.md"
install -d -m 0700 "$root$confdir" "$root$statedir"
if [ ! -f "$root$config" ]; then
  umask 077
  cat > "$root$config" <<JSON
{
  "brokers": ["mqtt://localhost:1883"],
  "stateDir": "$statedir"
}
JSON
  echo "install.sh: wrote a starting config to $config: set your brokers and client id there"
fi
sed -e "s|@NODE@|$node|g" -e "s|@PREFIX@|$prefix|g" -e "s|@CONFIG@|$config|g" -e "s|@HEAP_MB@|$heap_mb|g" \
  "$here/systemd/ftagent.service.in" > "$root$unitdir/ftagent.service"
chmod 0644 "$root$unitdir/ftagent.service"
ln -sf "$prefix/ftagent.js" "$root/usr/local/bin/ftagent"

if [ "$enable" = 1 ]; then
  systemctl daemon-reload
  systemctl enable --now ftagent.service
  echo "install.sh: ftagent is enabled and started (journalctl -u ftagent -f)"
else
  echo "install.sh: installed under ${root:-/}; not enabled"
fi
