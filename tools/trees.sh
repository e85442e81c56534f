#!/usr/bin/env bash
# The Debian trees the test suite builds in, runs in or cross-builds against,
# one line each: made (once, cached by the hash of their package lists) by
# tools/debian-tree.sh under ${DPDK_RS_CACHE:-/var/cache/dpdk-rs}/NAME.
#
#   tools/trees.sh NAME...   makes those trees, prints their paths
#   tools/trees.sh all       makes every tree, side by side (debootstrap
#                            waits on the network more than on the CPU)
#   tools/trees.sh list      prints the names
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

# NAME: SUITE ARCH PACKAGES [--extract]
declare -A spec=(
    # Debian 12's i386 DPDK 22.11: the i686 sysroot and the root i686 test
    # binaries run in (libdpdk-dev:i386 beside the amd64 packages fails on
    # version skew).
    [bookworm-i386]="bookworm i386 libdpdk-dev,gcc,pkg-config,binutils"
    # Debian 13's DPDK 24.11 and Debian testing's 25.11, amd64: cargo runs
    # inside with the host's toolchain (tools/tree/run).
    [trixie-amd64]="trixie amd64 libdpdk-dev,clang,libclang-dev,gcc,libc6-dev,pkg-config,binutils"
    [forky-amd64]="forky amd64 libdpdk-dev,clang,libclang-dev,gcc,libc6-dev,pkg-config,binutils"
    # Debian's arm64 DPDK 22.11 and 24.11, unpacked (no second stage): the
    # aarch64 sysroots, and the roots aarch64 test binaries run in under
    # qemu-aarch64 (tools/aarch64/); libgcc-N-dev for clang's links (crt files,
    # libgcc).
    [bookworm-arm64]="bookworm arm64 libdpdk-dev,libc6-dev,libgcc-12-dev --extract"
    [trixie-arm64]="trixie arm64 libdpdk-dev,libc6-dev,libgcc-14-dev --extract"
)
order=(bookworm-i386 trixie-amd64 forky-amd64 bookworm-arm64 trixie-arm64)

[ $# -ge 1 ] || { echo "usage: tools/trees.sh NAME...|all|list" >&2; exit 2; }
make_tree() {
    [ -n "${spec[$1]:-}" ] || { echo "trees: no tree named $1 (tools/trees.sh list)" >&2; return 2; }
    # shellcheck disable=SC2086 # the spec's words are the arguments
    "$here/debian-tree.sh" ${spec[$1]}
}
case "$1" in
list) printf '%s\n' "${order[@]}"; exit 0 ;;
all)
    out=$(mktemp -d)
    trap 'rm -rf "$out"' EXIT
    for name in "${order[@]}"; do
        make_tree "$name" >"$out/$name" &
        echo $! >"$out/$name.pid"
    done
    failed=0
    for name in "${order[@]}"; do
        wait "$(cat "$out/$name.pid")" || { echo "trees: $name could not be made" >&2; failed=1; }
        cat "$out/$name"
    done
    exit $failed
    ;;
esac
for name in "$@"; do
    make_tree "$name"
done
