#!/bin/sh
# Builds the example: installs the npm packages pinned by package-lock.json (once; they stay in
# node_modules), generates TypeScript from ../../schemas/tessera.capnp with capnp-es's plugin
# for `capnp compile`, and compiles everything with tsc into dist/.
# Needs node, npm and capnp (Debian: nodejs npm capnproto). Exits 3 when one is missing, 4
# when npm cannot install the packages.
set -eu
cd "$(dirname "$0")"
for tool in node npm capnp; do
  command -v "$tool" >/dev/null 2>&1 || { echo "build.sh: $tool not found" >&2; exit 3; }
done
# npm ci only when node_modules is missing or older than the lock file.
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund || { echo "build.sh: npm ci failed (no network?)" >&2; exit 4; }
fi
mkdir -p src/gen
capnp compile -o node_modules/.bin/capnpc-ts:src/gen --src-prefix=../../schemas \
  ../../schemas/tessera.capnp
node_modules/.bin/tsc -p .
