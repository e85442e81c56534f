#!/usr/bin/env bash
# Installs everything the project builds and tests with, on Debian 12, as root:
# packages, the i686 target, Debian 12's i386 tree, Debian 13's amd64 tree, the VM.
# Idempotent: slow results (the i386 tree, the VM kernel) are cached under
# $DPDK_RS_CACHE (default /var/cache/dpdk-rs) and reused.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
: "${DPDK_RS_CACHE:=/var/cache/dpdk-rs}"
export DEBIAN_FRONTEND=noninteractive

# libsystemd-dev: the static link (feature `static`) needs libsystemd.so's link name.
# linux-source-6.1, codespell: checkpatch.pl and its dictionary for DPDK's
# devtools/checkpatches.sh over patches/upstream (patches/check-upstream.sh).
# tcpdump reads back the net_pcap test's output; dpdk-dev ships dpdk-testpmd, the
# net_memif peer; iproute2 makes the net_af_packet test's namespace and veth pair.
packages=(libdpdk-dev libsystemd-dev pkg-config clang libclang-dev gcc gcc-multilib binutils
          debootstrap curl qemu-system-x86 busybox-static cpio kmod util-linux
          linux-source-6.1 codespell tcpdump dpdk-dev iproute2)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "setup: installing ${missing[*]}"
    apt-get update -qq
    apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if ! rustup target list --installed | grep -qx i686-unknown-linux-gnu; then
    rustup target add i686-unknown-linux-gnu
fi
rustup component add rustfmt clippy >/dev/null 2>&1 || true

# Debian 12's i386 DPDK in a tree of its own: the sysroot for cross-building and
# the root that i686 test binaries run in (installing libdpdk-dev:i386 beside the
# amd64 packages fails on version skew).
tree="$DPDK_RS_CACHE/bookworm-i386"
if [ ! -f "$tree/.dpdk-rs-complete" ]; then
    echo "setup: debootstrapping the i386 tree into $tree (about a minute)"
    rm -rf "$tree"
    mkdir -p "$DPDK_RS_CACHE"
    debootstrap --arch=i386 --variant=minbase --include=libdpdk-dev,gcc,pkg-config,binutils \
        bookworm "$tree" "$("$here/apt-mirror.sh")" >"$DPDK_RS_CACHE/debootstrap-i386.log" 2>&1 \
        || { tail -20 "$DPDK_RS_CACHE/debootstrap-i386.log"; exit 1; }
    touch "$tree/.dpdk-rs-complete"
fi

# Debian 13's amd64 DPDK (24.11) in a tree of its own: cargo runs inside it with
# the host's toolchain (tools/tree/run). Debian 13 ships no i386 DPDK.
"$here/debian13-tree.sh"

# tcpdump, dpdk-testpmd (dpdk-dev) and ip (iproute2) inside both trees: the net_pcap test
# reads its output back with tcpdump, the net_memif test talks to testpmd, the
# net_af_packet test makes its namespace with ip, and there the test binaries
# run inside the tree.
for t in "$tree" "$("$here/debian13-tree.sh")"; do
    if [ ! -x "$t/usr/bin/tcpdump" ] || [ ! -x "$t/usr/bin/dpdk-testpmd" ] || { [ ! -x "$t/usr/sbin/ip" ] && [ ! -x "$t/bin/ip" ]; }; then
        echo "setup: installing tcpdump, dpdk-dev and iproute2 into $t"
        cp /etc/resolv.conf "$t/etc/resolv.conf" 2>/dev/null || true
        "$here/tree/run" "$t" sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tcpdump dpdk-dev iproute2 >/dev/null'
    fi
done

# The VM's kernel and initramfs.
"$here/vm/prepare.sh" >/dev/null
echo "setup: ready (cache: $DPDK_RS_CACHE)"
