#!/usr/bin/env bash
# Makes (once, cached) the Debian 13 amd64 tree the 24.11 tests build and run in:
# ${DPDK_RS_CACHE:-/var/cache/dpdk-rs}/trixie-amd64, with libdpdk-dev (DPDK 24.11),
# clang/libclang for bindgen, gcc and pkg-config. Rust comes from the host
# (tools/tree/run bind-mounts rustup's and cargo's homes). Prints the tree's path.
set -euo pipefail
: "${DPDK_RS_CACHE:=/var/cache/dpdk-rs}"
tree="$DPDK_RS_CACHE/trixie-amd64"
# The archive this machine's apt uses (tools/apt-mirror.sh).
mirror=$("$(dirname "$0")/apt-mirror.sh")
if [ -f "$tree/.dpdk-rs-complete" ]; then
    echo "$tree"
    exit 0
fi
command -v debootstrap >/dev/null || {
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
}
log="$DPDK_RS_CACHE/debootstrap-trixie-amd64.log"
mkdir -p "$DPDK_RS_CACHE"
# A mirror in the middle of a sync serves indices that disagree with its
# Release file; "stable" names the same release through an older Release file
# that may still agree. Only if that one still says trixie.
suites=(trixie)
if curl -fsS "$mirror/dists/stable/Release" 2>/dev/null | grep -qx 'Codename: trixie'; then
    suites+=(stable)
fi
for suite in "${suites[@]}"; do
    echo "setup: debootstrapping Debian 13 ($suite) amd64 into $tree (about 2 minutes)" >&2
    rm -rf "$tree"
    if debootstrap --arch=amd64 --variant=minbase \
        --include=libdpdk-dev,clang,libclang-dev,gcc,libc6-dev,pkg-config,binutils \
        "$suite" "$tree" "$mirror" >"$log" 2>&1; then
        touch "$tree/.dpdk-rs-complete"
        echo "$tree"
        exit 0
    fi
    tail -5 "$log" >&2
done
echo "setup: could not debootstrap Debian 13 (log: $log)" >&2
exit 1
