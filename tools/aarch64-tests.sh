#!/usr/bin/env bash
# The crates cross-built for aarch64-unknown-linux-gnu against Debian's arm64
# DPDK, and their tests run as arm64 binaries under qemu-aarch64 (user-mode
# emulation), inside the arm64 sysroot they were linked against:
#
#   tools/aarch64-tests.sh bookworm-arm64   Debian 12, DPDK 22.11
#   tools/aarch64-tests.sh trixie-arm64     Debian 13, DPDK 24.11
#
# Lints for the target, then the whole host test suite; a target directory of
# its own per sysroot (target/NAME).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/.."
[ $# -eq 1 ] || { echo "usage: tools/aarch64-tests.sh TREE (bookworm-arm64, trixie-arm64)" >&2; exit 2; }
name=$1
DPDK_RS_ARM64_ROOT=$("$here/trees.sh" "$name")
export DPDK_RS_ARM64_ROOT
"$here/aarch64/binfmt.sh"
source "$here/aarch64/env.sh"
export CARGO_TARGET_DIR="$PWD/target/$name"
target=(--target aarch64-unknown-linux-gnu)
version=$(pkg-config --modversion libdpdk)
echo "-- $name sysroot: DPDK $version (arm64)"
out=$(cargo clippy --workspace --all-targets "${target[@]}" -- -D warnings 2>&1) || { echo "$out"; exit 1; }
out=$(cargo test --workspace "${target[@]}" 2>&1) || { echo "$out"; exit 1; }
grep -q "building against DPDK $version from $DPDK_RS_ARM64_ROOT/usr (distribution)" <<<"$out" ||
    { echo "the build script did not report $name's DPDK"; echo "$out"; exit 1; }
# The binaries that ran are arm64 code: the emulator, not the host, ran them.
binary=$(ls "$CARGO_TARGET_DIR"/aarch64-unknown-linux-gnu/debug/deps/dpdk_safe-* | grep -v '\.d$' | head -1)
file -b "$binary" | grep -q "ARM aarch64" || { echo "$binary is not an arm64 binary: $(file -b "$binary")"; exit 1; }
grep "test result" <<<"$out" | sort | uniq -c
