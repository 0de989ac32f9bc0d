#!/usr/bin/env bash
# Checks deploy/systemd/tessera-node@.service with `systemd-analyze verify` (ctest
# `check_systemd_unit`): every key known to this systemd, the ExecStart binary runnable. The
# unit is verified as an instance, with ExecStart pointed at the built tessera-node.
#   bash scripts/check_systemd_unit.sh BUILD_BIN_DIR
set -euo pipefail
cd "$(dirname "$0")/.."
bin_dir=$(cd "${1:-build/bin}" && pwd)
if ! command -v systemd-analyze >/dev/null; then
  echo "SKIPPED: systemd-analyze is not installed" >&2
  exit 77
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
sed "s#/usr/local/bin/tessera-node#$bin_dir/tessera-node#" deploy/systemd/tessera-node@.service \
  >"$work/tessera-node@.service"
out=$(systemd-analyze verify "$work/tessera-node@.service" 2>&1 || true)
# Only complaints about this unit count (the host's own units may have their own).
mine=$(grep -F "tessera-node@" <<<"$out" || true)
if [[ -n "$mine" ]]; then
  echo "$mine" >&2
  exit 1
fi
echo "systemd unit: verified"
