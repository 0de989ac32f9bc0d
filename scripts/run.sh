#!/usr/bin/env bash
# Command (a) of the README: build, make the default model, start a local 3-shard cluster,
# load the model and show a few predictions.
#
#   bash scripts/run.sh            stay in the foreground until Ctrl-C (stops the cluster)
#   bash scripts/run.sh --once     stop the cluster after the sample predictions, exit 0
#
# Runs as root on a fresh Debian 12 from the repo root (or anywhere: it cds there).
# Logs: data/logs/up.log (the launcher) and data/logs/<node>.log (each node).
set -euo pipefail

cd "$(dirname "$0")/.."
ONCE=0
for arg in "$@"; do
  case "$arg" in
    --once) ONCE=1 ;;
    -h | --help)
      sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "run: unknown argument '$arg' (usage: bash scripts/run.sh [--once])" >&2
      exit 2
      ;;
  esac
done

TESSERA=build/bin/tessera
LOG_DIR=data/logs
MODEL_DIR=data/sections
# The ports of the embedded default config (config/local.toml): gateway 7300, node actors
# 7400-7403.
PORTS=(7300 7400 7401 7402 7403)
UP_PID=""
SERVING=0

say() { echo "run: $*" >&2; }

# Stops `tessera up` (and with it every node) by pid: SIGTERM, up to 15 s, then SIGKILL.
# Nodes still alive afterwards (they should not be: `up` stops them and they die with it) are
# killed by the pids `up` wrote to the pid file.
stop_up() {
  local pid="$UP_PID"
  UP_PID=""
  if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
    say "stopping the cluster (tessera up, pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 150); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      say "tessera up did not stop within 15 s; SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  [[ -n "$pid" ]] && { wait "$pid" 2>/dev/null || true; }
  if [[ -f "$LOG_DIR/nodes.pid" ]]; then
    local name npid
    while read -r name npid; do
      [[ "$npid" =~ ^[0-9]+$ ]] || continue
      if [[ -r /proc/$npid/cmdline ]] && tr '\0' ' ' <"/proc/$npid/cmdline" | grep -q tessera-node; then
        say "node $name (pid $npid) still running; SIGKILL"
        kill -KILL "$npid" 2>/dev/null || true
      fi
    done <"$LOG_DIR/nodes.pid"
    rm -f "$LOG_DIR/nodes.pid"
  fi
}
on_exit() {
  local rc=$?
  stop_up
  exit "$rc"
}
# Ctrl-C while serving is the normal way to stop (exit 0); earlier it is an interruption.
on_signal() {
  trap - INT TERM
  echo >&2
  stop_up
  [[ "$SERVING" -eq 1 ]] && exit 0
  exit 130
}
trap on_exit EXIT
trap on_signal INT TERM

# Only the two binaries: the tests are scripts/test.sh's business.
bash scripts/setup.sh tessera tessera-node
bash scripts/default_model.sh "$MODEL_DIR"

busy=()
for p in "${PORTS[@]}"; do
  if [[ -n "$(ss -Htln "sport = :$p" 2>/dev/null)" ]]; then busy+=("$p"); fi
done
if [[ ${#busy[@]} -gt 0 ]]; then
  say "error: port(s) ${busy[*]} already in use; the default cluster needs 127.0.0.1:7300" \
    "and 7400-7403. Is another 'tessera up' (or the test suite) running? See: ss -tlnp"
  exit 1
fi

mkdir -p "$LOG_DIR"
say "starting the cluster: $TESSERA up (logs in $LOG_DIR/)"
"$TESSERA" up --log-dir "$LOG_DIR" --pid-file "$LOG_DIR/nodes.pid" >"$LOG_DIR/up.log" 2>&1 &
UP_PID=$!

# Wait for the ready line (up itself gives up after its --ready-timeout, 60 s).
for _ in $(seq 900); do
  grep -q '^tessera: ready' "$LOG_DIR/up.log" && break
  if ! kill -0 "$UP_PID" 2>/dev/null; then
    say "error: tessera up exited before the cluster was ready:"
    cat "$LOG_DIR/up.log" >&2
    for f in "$LOG_DIR"/*.log; do
      [[ "$f" == "$LOG_DIR/up.log" ]] && continue
      echo "--- $f (last lines)" >&2
      tail -n 5 "$f" >&2
    done
    exit 1
  fi
  sleep 0.1
done
grep -q '^tessera: ready' "$LOG_DIR/up.log" || {
  say "error: no ready line from tessera up within 90 s (see $LOG_DIR/)"
  exit 1
}
grep '^tessera: ready' "$LOG_DIR/up.log"

# The coordinator keeps its registry in data/state: after an earlier run it already serves
# sections from this package (recovered without reading rows again), so load only if not.
package_dir=$(cd "$MODEL_DIR/package" && pwd)
version=$("$TESSERA" models --json | jq -r --arg p "$package_dir" \
  '.[] | select(.name == "sections") | .versions[] |
   select(.path == $p and (.state == "serving" or .state == "ready")) | .version' | tail -1)
if [[ -n "$version" ]]; then
  say "sections version $version is already serving from $package_dir (recovered state)"
else
  say "loading $MODEL_DIR/package as 'sections'"
  version=$("$TESSERA" load "$MODEL_DIR/package" --name sections)
  say "sections version $version is loaded and serving"
fi

SAMPLES="$MODEL_DIR/samples.txt"
cat >"$SAMPLES" <<'EOF'
python library to parse yaml files
command line utility to resize images
c compiler and debugger for embedded targets
fonts for chinese japanese and korean
documentation in html format
a chess game for the terminal
daemon to synchronize the clock over the network
perl module for sending email
EOF
answers=$("$TESSERA" predict --model sections --format text --k 3 "$SAMPLES")
echo
echo "Sample predictions (tessera predict --model sections --k 3):"
echo
# Each answer line is "label<TAB>prob<TAB>label<TAB>prob...": shown as "section prob, ..."
# (the "__label__" prefix fastText gives every label is left out here).
paste -d '\n' "$SAMPLES" <(printf '%s\n' "$answers") | awk '
  NR % 2 == 1 { text = $0; next }
  {
    n = split($0, f, "\t"); out = ""
    for (i = 1; i + 1 <= n; i += 2) {
      label = f[i]
      sub(/^__label__/, "", label)
      out = out (out == "" ? "" : ", ") sprintf("%s %.3f", label, f[i + 1])
    }
    printf "  %-50s -> %s\n", text, out
  }'
echo

if [[ "$ONCE" -eq 1 ]]; then
  stop_up
  say "done (--once)"
  exit 0
fi

cat <<EOF
The cluster is up: gateway at 127.0.0.1:7300, model "sections" version $version.
Try, from another terminal in $(pwd):

  echo "library for reading png images" | $TESSERA predict --model sections --k 3 -
  $TESSERA predict --model sections --format json --k 2 $SAMPLES
  cut -d' ' -f2- $MODEL_DIR/test.txt | head -5 | $TESSERA predict --model sections --format fasttext -
  $TESSERA embed --model sections $SAMPLES | head -1
  $TESSERA bench --model sections --duration 5 $SAMPLES
  $TESSERA models
  $TESSERA status

Logs: $LOG_DIR/up.log and $LOG_DIR/<node>.log. Press Ctrl-C to stop the cluster.
EOF

SERVING=1
# Foreground: wait for up; Ctrl-C/SIGTERM run on_signal, which stops it by pid.
set +e
wait "$UP_PID"
rc=$?
set -e
UP_PID=""
say "tessera up exited (status $rc); see $LOG_DIR/up.log"
exit "$rc"
