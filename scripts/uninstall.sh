#!/bin/sh
# Removes the ftagent service and program. Config (/etc/ftagent) and state (/var/lib/ftagent:
# queued jobs, checkpoints) are kept unless --purge is given, so a reinstall loses no job.
#
#   sudo scripts/uninstall.sh [--purge] [--root DIR]
set -eu

purge=0
root=
while [ $# -gt 0 ]; do
  case "$1" in
    --purge) purge=1; shift ;;
    --root) root=$2; shift 2 ;;
    -h|--help) sed -n '2,6p' "$0"; exit 0 ;;
    *) echo "uninstall.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

if [ -z "$root" ] && command -v systemctl >/dev/null 2>&1; then
  systemctl disable --now ftagent.service 2>/dev/null || true
fi
rm -f "$root/etc/systemd/system/ftagent.service" "$root/usr/local/bin/ftagent"
rm -rf "$root/opt/ftagent"
[ -z "$root" ] && command -v systemctl >/dev/null 2>&1 && systemctl daemon-reload || true
if [ "$purge" = 1 ]; then
  rm -rf "$root/etc/ftagent" "$root/var/lib/ftagent"
  echo "uninstall.sh: removed ftagent, its config and its state"
else
  echo "uninstall.sh: removed ftagent; kept /etc/ftagent and /var/lib/ftagent (--purge removes them)"
fi
