#!/usr/bin/env bash
# Builds the published Linux glibc binaries into artifacts/, linked against an old glibc so
# one binary serves every distribution from that glibc on, and fails when a binary asks for
# a newer one. The napi CLI's --cross-compile builds through cargo-zigbuild, and zig links
# against the glibc named by the target's suffix (x86_64-unknown-linux-gnu.2.17).
#
#   scripts/build-linux-gnu.sh [TRIPLE...]   (default: x86_64- and aarch64-unknown-linux-gnu)
#
# Needs pip (zig and cargo-zigbuild come from PyPI). A target whose Rust standard library the
# rustup toolchain lacks (rustup cannot download it on every machine) is built with Debian's
# rustc-web and its multiarch standard library, installed with apt-get when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

GLIBC_FLOOR=2.17
ZIGLANG=0.17.1
CARGO_ZIGBUILD=0.24.1
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(x86_64-unknown-linux-gnu aarch64-unknown-linux-gnu)

if ! command -v cargo-zigbuild >/dev/null || ! python3 -m ziglang version >/dev/null 2>&1; then
  echo "== installing zig $ZIGLANG and cargo-zigbuild $CARGO_ZIGBUILD from PyPI"
  python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
    "ziglang==$ZIGLANG" "cargo-zigbuild==$CARGO_ZIGBUILD"
  # pip's console scripts may sit outside PATH (pyenv without a rehash, a user install).
  PATH="$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))'):$PATH"
  hash -r
fi

# Debian's names for a Rust target's architecture.
debian_arch() {
  case "$1" in
    x86_64-*) echo amd64 ;;
    aarch64-*) echo arm64 ;;
    *) echo "no Debian architecture known for $1" >&2; return 1 ;;
  esac
}

# Prints the PATH prefix that gives a cargo whose rustc has the target's standard library.
toolchain_for() {
  local target=$1
  if [ -d "$(rustc --print sysroot)/lib/rustlib/$target" ]; then
    return
  fi
  local arch
  arch=$(debian_arch "$target")
  if [ ! -d "/usr/lib/rustlib/$target" ]; then
    echo "== rustup has no $target standard library here: installing Debian's rustc-web for $arch" >&2
    export DEBIAN_FRONTEND=noninteractive
    dpkg --add-architecture "$arch"
    apt-get update -qq
    apt-get install -y -qq rustc-web cargo-web "libstd-rust-web-dev:$arch" >/dev/null
  fi
  # Only Debian's cargo and rustc go first: all of /usr/bin would also put the system
  # python3, which lacks the ziglang that cargo-zigbuild runs, before pip's.
  local bin=target/debian-rust-bin
  mkdir -p "$bin"
  ln -sf /usr/bin/cargo /usr/bin/rustc /usr/bin/rustdoc "$bin/"
  echo "$PWD/$bin:"
}

highest_glibc() {
  objdump -T "$1" | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -1
}

for target in "${targets[@]}"; do
  prefix=$(toolchain_for "$target")
  started=$SECONDS
  echo "== napi build --target $target.$GLIBC_FLOOR --cross-compile (cargo $(PATH="$prefix$PATH" cargo --version | cut -d' ' -f2))"
  # Another toolchain's build scripts would invalidate the default target dir's.
  PATH="$prefix$PATH" CARGO_TARGET_DIR="target/${prefix:+debian-}cross" \
    npx napi build --platform --release --target "$target.$GLIBC_FLOOR" --cross-compile \
    --output-dir artifacts --no-js
  rm -f artifacts/index.d.ts # the committed binding.d.ts is the one the package ships
  platform=$(node -e 'const { parseTriple } = require("@napi-rs/cli"); console.log(parseTriple(process.argv[1]).platformArchABI)' "$target")
  binary="artifacts/stream-cache-native.$platform.node"
  highest=$(highest_glibc "$binary")
  echo "$binary: highest GLIBC_$highest (floor $GLIBC_FLOOR), built in $((SECONDS - started)) s"
  if [ "$(printf '%s\n%s\n' "$highest" "$GLIBC_FLOOR" | sort -V | tail -1)" != "$GLIBC_FLOOR" ]; then
    echo "$binary needs glibc $highest, above the floor $GLIBC_FLOOR" >&2
    exit 1
  fi
done
