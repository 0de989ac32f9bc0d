#!/usr/bin/env bash
# Block-store figures (issue "Ship rows, not paths"), one run, side by side:
#   - a full load of a model into NODES shard nodes (each reads its rows from the package and
#     writes them to its block store, fsynced) against `dd` of the same package files, both
#     with a cold page cache (as root: drop_caches before each);
#   - a delta version (1% of the table's rows changed, contiguous): bytes shipped to the stores
#     and load time, against the full load;
#   - a shard node killed with SIGKILL: time until `tessera up` has restarted it and every
#     replica is ready again from its store, with the package directory moved away.
#
#   bash bench/store.sh [BUCKETS] [NODES]   (defaults 4,000,000 buckets: a 1 GiB table; 4 nodes)
#
# Private cluster on ports 17300+; needs jq. Every process it starts is stopped by pid (trap).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-$PWD/build/bin}
WORK=$(mktemp -d /tmp/tessera-store.XXXXXX)
BUCKETS=${1:-4000000}
NODES=${2:-4}
source bench/lib.sh
snapshot_bins tessera tessera-node
install_cleanup
command -v jq >/dev/null || die "jq is required"

VOCAB=5000
ROWS=$((VOCAB + BUCKETS))
CHANGED_BEGIN=$((ROWS / 2))
CHANGED_END=$((CHANGED_BEGIN + ROWS / 100))
log "generating v1 ($ROWS rows x 64) and v2 (rows [$CHANGED_BEGIN, $CHANGED_END) changed)"
"$BIN/tessera" gen-model "$WORK/v1" --buckets "$BUCKETS" --seed 42 2>/dev/null
"$BIN/tessera" gen-model "$WORK/v2" --buckets "$BUCKETS" --seed 42 \
  --changed-rows "$CHANGED_BEGIN:$CHANGED_END" 2>/dev/null
PKG_BYTES=$(du -sb "$WORK/v1" | cut -f1)

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
mibs() { awk -v b="$1" -v s="$2" 'BEGIN { printf "%.0f", b / 1048576 / s }'; }
cold() {
  sync
  if [ "$(id -u)" = 0 ]; then echo 3 >/proc/sys/vm/drop_caches; else log "not root: warm cache"; fi
}

cold
t0=$(now)
for f in "$WORK"/v1/*; do dd if="$f" of=/dev/null bs=4M status=none; done
t_dd=$(elapsed "$t0" "$(now)")

pick_ports
write_config "$WORK/cluster.toml" "$NODES"
start_cluster "$WORK/cluster.toml" "$WORK/cluster"

version_json() {  # NAME VERSION
  tcli status --json | jq -c --arg n "$1" --argjson v "$2" \
    '.models[] | select(.name == $n) | .versions[] | select(.version == $v)'
}
# Waits until every replica of the version has reported its load's figures.
figures() {
  local i j
  for i in $(seq 1 100); do
    j=$(version_json "$1" "$2")
    if [ -n "$j" ] && [ "$(jq '.shipped_bytes + .stored_bytes >= .replica_bytes and .replica_bytes > 0' <<<"$j")" = true ]; then
      echo "$j"
      return 0
    fi
    sleep 0.2
  done
  die "no load figures for $1 v$2"
}

cold
t0=$(now)
tcli --timeout 3600 load "$WORK/v1" --name m >/dev/null 2>&1 || die "load v1 failed"
t_full=$(elapsed "$t0" "$(now)")
full=$(figures m 1)

cold
t0=$(now)
tcli --timeout 3600 load "$WORK/v2" --name m >/dev/null 2>&1 || die "load v2 failed"
t_delta=$(elapsed "$t0" "$(now)")
delta=$(figures m 2)

# The package leaves: the restarted node has only its store.
mv "$WORK/v1" "$WORK/v1.away"
mv "$WORK/v2" "$WORK/v2.away"
victim=shard-2
pid=$(node_pids | awk -v n="$victim" '$1 == n { print $2 }')
[ -n "$pid" ] || die "no pid for $victim"
t0=$(now)
kill -KILL "$pid"
# `tessera up` restarts it (its pid file names the new process); status may never show it
# down, so the restart is what is waited for, then every replica ready again.
for i in $(seq 1 600); do
  new=$(node_pids | awk -v n="$victim" '$1 == n { print $2 }')
  [ -n "$new" ] && [ "$new" != "$pid" ] && break
  sleep 0.1
done
t_down=$(elapsed "$t0" "$(now)")
for i in $(seq 1 1200); do
  st=$(tcli status --json)
  if [ "$(jq -r '.ready' <<<"$st")" = true ] &&
    [ "$(jq '[.models[].versions[].shards[].replicas[] | select(.state != "ready")] | length' <<<"$st")" = 0 ]; then
    break
  fi
  sleep 0.1
done
t_back=$(elapsed "$t0" "$(now)")
restarted=$(tcli status --json | jq -c --arg n "$victim" \
  '[.models[].versions[].shards[].replicas[] | select(.node == $n)] |
   {fetched: (map(.fetched_bytes) | add), stored: (map(.stored_bytes) | add)}')

shipped_full=$(jq .shipped_bytes <<<"$full")
bytes_full=$(jq .replica_bytes <<<"$full")
shipped_delta=$(jq .shipped_bytes <<<"$delta")
bytes_delta=$(jq .replica_bytes <<<"$delta")
cat <<EOF
store bench: $ROWS x 64 table, package $PKG_BYTES bytes, $NODES shard nodes, R=1, cold page cache
dd of the package files:      ${t_dd} s  ($(mibs "$PKG_BYTES" "$t_dd") MiB/s)
full load (v1):               ${t_full} s  ($(mibs "$bytes_full" "$t_full") MiB/s of rows into the stores)
  shipped $shipped_full of $bytes_full bytes; load / dd time = $(awk -v a="$t_full" -v b="$t_dd" 'BEGIN { printf "%.2f", a / b }')
delta load (v2, 1% of rows):  ${t_delta} s  = $(awk -v a="$t_delta" -v b="$t_full" 'BEGIN { printf "%.2f", a / b }') x the full load
  shipped $shipped_delta of $bytes_delta bytes ($(awk -v a="$shipped_delta" -v b="$bytes_delta" 'BEGIN { printf "%.2f%%", 100 * a / b }'))
$victim SIGKILL -> restarted by up ${t_down} s -> every replica ready again ${t_back} s (package moved away)
  its replicas now: $restarted (fetched 0 = all from its store)
EOF
