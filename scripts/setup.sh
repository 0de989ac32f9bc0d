#!/usr/bin/env bash
# Installs tessera's Debian 12 build dependencies and builds a Release tree in build/.
#
#   bash scripts/setup.sh [TARGET...]     (as root, from anywhere; idempotent)
#
# With TARGETs (e.g. tessera tessera-node) only those are built; without, everything (tests
# included).
# apt is skipped when every package is already installed, except that `apt-get update` still
# runs when the apt lists are empty: scripts/default_model.sh trains on `apt-cache dumpavail`.
# The build is incremental: a second run only rebuilds what changed.
set -euo pipefail

cd "$(dirname "$0")/.."
JOBS="${JOBS:-2}"
PACKAGES=(
  libxxhash-dev
  build-essential cmake libcaf-dev libcapnp-dev capnproto libeigen3-dev libspdlog-dev catch2
  libcli11-dev libtomlplusplus-dev nlohmann-json3-dev fasttext libfasttext-dev libssl-dev
  iproute2 procps clang-format jq tcpdump systemd
  prometheus-cpp-dev  # metrics: the core registry and text serializer (base/prometheus.hpp)
  prometheus  # promtool: http_itest checks every node's /metrics with `promtool check metrics`
  nodejs      # examples/js (the TypeScript client) and js_client_itest, which builds and runs it
  clang libclang-rt-dev  # the sanitized build (scripts/sanitize.sh) and libFuzzer (scripts/fuzz.sh)
  lld  # links the test programs faster than GNU ld (CMakeLists.txt uses it when present)
)
# Needed by tests only, not by the build: installed by a second apt-get that runs while the
# build compiles (its download and unpacking took 72 s here), and waited for before setup ends.
TEST_PACKAGES=(
  python3-torch  # torch_itest, compose_itest, bench/dlrm.sh: PyTorch 1.13 computes references
)
# npm for examples/js/build.sh: Debian's package, unless an `npm` is already there. NodeSource's
# nodejs bundles npm and conflicts with Debian's npm package, so asking for it would fail.
command -v npm >/dev/null 2>&1 || PACKAGES+=(npm)

say() { echo "setup: $*" >&2; }

# Runs a command with its output in a log file; on failure shows the log's tail and fails.
quiet() {
  local log="$1"
  shift
  if ! "$@" >"$log" 2>&1; then
    say "failed: $*"
    # Compiler errors first (with -j2 they may sit far from the end), then the log's tail.
    if grep -q -E 'error:|Error [0-9]|^E: ' "$log"; then
      grep -E -A3 'error:|^E: ' "$log" | head -n 60 >&2 || true
      echo "..." >&2
    fi
    tail -n 15 "$log" >&2
    say "(full output: $log)"
    return 1
  fi
}

missing_packages() {  # missing_packages PACKAGE...
  local p status
  for p in "$@"; do
    status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
    [[ "$status" == installed ]] || echo "$p"
  done
}

apt_lists_empty() {
  ! compgen -G "/var/lib/apt/lists/*_Packages*" >/dev/null
}

mkdir -p build
LOG_DIR=build/setup-logs
mkdir -p "$LOG_DIR"

missing=$(missing_packages "${PACKAGES[@]}" | tr '\n' ' ')
test_missing=$(missing_packages "${TEST_PACKAGES[@]}" | tr '\n' ' ')
if [[ -n "$missing" ]]; then
  [[ $(id -u) -eq 0 ]] || {
    say "missing packages ($missing) and not root: run as root or install them"
    exit 1
  }
  say "apt-get update"
  quiet "$LOG_DIR/apt-update.log" apt-get update
  say "installing: $missing"
  quiet "$LOG_DIR/apt-install.log" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y --no-install-recommends "${PACKAGES[@]}"
elif apt_lists_empty; then
  [[ $(id -u) -eq 0 ]] || {
    say "the apt lists are empty and not root: run 'apt-get update' as root"
    exit 1
  }
  say "apt lists are empty: apt-get update (the default model is trained on them)"
  quiet "$LOG_DIR/apt-update.log" apt-get update
else
  say "all ${#PACKAGES[@]} packages installed; skipping apt"
fi
test_apt_pid=""
if [[ -n "$test_missing" ]]; then
  if [[ $(id -u) -eq 0 ]]; then
    [[ -n "$missing" ]] || quiet "$LOG_DIR/apt-update.log" apt-get update
    say "installing beside the build: $test_missing"
    env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      "${TEST_PACKAGES[@]}" >"$LOG_DIR/apt-install-tests.log" 2>&1 &
    test_apt_pid=$!
    # A failed build still waits for it: an apt-get left running holds the dpkg lock.
    trap '[[ -z "$test_apt_pid" ]] || wait "$test_apt_pid" 2>/dev/null || true' EXIT
  else
    say "missing test packages ($test_missing) and not root: the tests that need them skip"
  fi
fi

targets=()
[[ $# -gt 0 ]] && targets=(--target "$@")
say "configure (Release) and build ${*:-everything} with -j$JOBS"
quiet "$LOG_DIR/configure.log" cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
quiet "$LOG_DIR/build.log" cmake --build build -j"$JOBS" "${targets[@]}"
say "build done (build/bin/)"
if [[ -n "$test_apt_pid" ]]; then
  if ! wait "$test_apt_pid"; then
    say "failed: apt-get install ${TEST_PACKAGES[*]}"
    tail -n 15 "$LOG_DIR/apt-install-tests.log" >&2
    exit 1
  fi
  say "installed: $test_missing"
fi
