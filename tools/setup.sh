#!/usr/bin/env bash
# Installs everything the project builds and tests with, on Debian 12, as root:
# packages, the i686 and aarch64 targets, the Debian trees (tools/trees.sh:
# Debian 12's i386 tree, Debian 13's and testing's amd64 trees, Debian 12's and
# 13's arm64 sysroots), qemu-aarch64 for arm64 binaries, the VM.
# Idempotent: slow results (the i386 tree, the VM kernel) are cached under
# $DPDK_RS_CACHE (default /var/cache/dpdk-rs) and reused.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
: "${DPDK_RS_CACHE:=/var/cache/dpdk-rs}"
export DEBIAN_FRONTEND=noninteractive

# libsystemd-dev: the static link (feature `static`) needs libsystemd.so's link name.
# aarch64 is compiled and linked by clang with binutils-aarch64-linux-gnu's ld:
# gcc-aarch64-linux-gnu conflicts with gcc-multilib on Debian 12 (installing
# either removes the other).
# linux-source-6.1, codespell: checkpatch.pl and its dictionary for DPDK's
# devtools/checkpatches.sh over patches/upstream (patches/check-upstream.sh).
# tcpdump reads back the net_pcap test's output; dpdk-dev ships dpdk-testpmd, the
# net_memif peer; iproute2 makes the net_af_packet test's namespace and veth pair.
# valgrind (tools/memcheck.sh) and patches/build.sh's build tools are installed
# here too, so that no step of the suite's two lanes runs apt-get beside the
# other's (dpkg's lock would fail it).
packages=(libdpdk-dev libsystemd-dev pkg-config clang libclang-dev gcc gcc-multilib binutils
          debootstrap curl qemu-system-x86 busybox-static cpio kmod util-linux
          file linux-source-6.1 codespell tcpdump dpdk-dev iproute2
          qemu-user-static binutils-aarch64-linux-gnu
          valgrind meson ninja-build python3-pyelftools libnuma-dev dpkg-dev patch)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "setup: installing ${missing[*]}"
    apt-get update -qq
    apt-get install -y -qq "${missing[@]}" >/dev/null
fi

for t in i686-unknown-linux-gnu aarch64-unknown-linux-gnu; do
    rustup target list --installed | grep -qx "$t" || rustup target add "$t"
done
rustup component add rustfmt clippy >/dev/null 2>&1 || true

# The Debian trees, each cached by the hash of its package list.
"$here/trees.sh" all >/dev/null
# arm64 binaries run under qemu-aarch64, also in chroots.
"$here/aarch64/binfmt.sh"

# tcpdump, dpdk-testpmd (dpdk-dev) and ip (iproute2) inside the trees the test
# binaries run in: the net_pcap test reads its output back with tcpdump, the
# net_memif test talks to testpmd, the net_af_packet test makes its namespace
# with ip. (Installed after the tree is made, so the trees' cache keys stay
# those of their base package lists.)
for name in bookworm-i386 trixie-amd64 forky-amd64; do
    t="$DPDK_RS_CACHE/$name"
    if [ ! -x "$t/usr/bin/tcpdump" ] || [ ! -x "$t/usr/bin/dpdk-testpmd" ] || { [ ! -x "$t/usr/sbin/ip" ] && [ ! -x "$t/bin/ip" ]; }; then
        echo "setup: installing tcpdump, dpdk-dev and iproute2 into $t"
        cp /etc/resolv.conf "$t/etc/resolv.conf" 2>/dev/null || true
        "$here/tree/run" "$t" sh -c 'apt-get -o Acquire::Check-Valid-Until=false update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tcpdump dpdk-dev iproute2 >/dev/null'
    fi
done

# The VM's kernel and initramfs.
"$here/vm/prepare.sh" >/dev/null
echo "setup: ready (cache: $DPDK_RS_CACHE)"
