#!/usr/bin/env bash
# Makes (once, cached) a Debian tree of one suite and architecture under
# ${DPDK_RS_CACHE:-/var/cache/dpdk-rs}/SUITE-ARCH and prints its path.
#
#   tools/debian-tree.sh SUITE ARCH PACKAGE[,PACKAGE...] [--extract]
#
# Without --extract the tree is debootstrapped completely (both stages run on
# this machine, so ARCH must run here: amd64, i386); cargo or test binaries
# then run inside it through tools/tree/run. With --extract only debootstrap's
# first stage runs and every package it fetched (the base system and PACKAGEs
# with their dependencies) is unpacked with dpkg -x: a sysroot of a foreign
# architecture (arm64) to cross-build against and to run its binaries in under
# user-mode emulation, with no second stage (no maintainer scripts).
#
# The cache key is the hash of what makes the tree (suite, architecture, mode,
# package list), kept in the tree's .dpdk-rs-complete: a tree made from another
# list is rebuilt. A new tree is made beside the old one and swapped in when
# complete, so a tree in use is never half-made. The archive is the one this
# machine's apt uses (tools/apt-mirror.sh).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
[ $# -ge 3 ] || { echo "usage: tools/debian-tree.sh SUITE ARCH PACKAGES [--extract]" >&2; exit 2; }
suite=$1 arch=$2 packages=$3 mode=${4:-full}
case "$mode" in full | --extract) ;; *) echo "debian-tree: unknown mode $mode" >&2; exit 2 ;; esac
: "${DPDK_RS_CACHE:=/var/cache/dpdk-rs}"
tree="$DPDK_RS_CACHE/$suite-$arch"
key=$(printf 'suite=%s arch=%s mode=%s packages=%s\n' "$suite" "$arch" "$mode" "$packages" | sha256sum | cut -d' ' -f1)
if [ -f "$tree/.dpdk-rs-complete" ]; then
    # An empty mark: made by the project's scripts before the key was kept,
    # from the same lists (bookworm-i386, trixie-amd64); adopted.
    [ -s "$tree/.dpdk-rs-complete" ] || echo "$key" >"$tree/.dpdk-rs-complete"
    if [ "$(cat "$tree/.dpdk-rs-complete")" = "$key" ]; then
        echo "$tree"
        exit 0
    fi
fi
mirror=$("$here/apt-mirror.sh")
command -v debootstrap >/dev/null || {
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
}
mkdir -p "$DPDK_RS_CACHE"
log="$DPDK_RS_CACHE/debootstrap-$suite-$arch.log"
new="$tree.new"
# A mirror in the middle of a sync serves indices that disagree with its
# Release file; an alias (stable, testing) names the same release through an
# older Release file that may still agree. Tried second, if it names $suite.
suites=("$suite")
for alias in stable testing unstable; do
    if curl -fsS "$mirror/dists/$alias/Release" 2>/dev/null | sed -n '1,20p' | grep -qx "Codename: $suite"; then
        suites+=("$alias")
    fi
done
extra=()
[ "$mode" = --extract ] && extra=(--foreign)
# A debootstrap older than the suite has no script named after it; Debian's
# suites since bookworm debootstrap the same way as sid.
script=()
[ -e "/usr/share/debootstrap/scripts/$suite" ] || script=(/usr/share/debootstrap/scripts/sid)
for s in "${suites[@]}"; do
    echo "debian-tree: debootstrapping $suite ($s) $arch${extra:+ (first stage, unpacked)} into $tree" >&2
    rm -rf "$new"
    if debootstrap --arch="$arch" --variant=minbase "${extra[@]}" --include="$packages" \
        "$s" "$new" "$mirror" "${script[@]}" >"$log" 2>&1; then
        if [ "$mode" = --extract ]; then
            # Every fetched package, unpacked over the first stage's base.
            # (tar keeps the merged /usr's directory symlinks.)
            for deb in "$new"/var/cache/apt/archives/*.deb; do
                dpkg-deb --fsys-tarfile "$deb" | tar -x --keep-directory-symlink -C "$new"
            done
            # The dynamic loader's cache, for the libraries' multiarch directories.
            ldconfig -r "$new" 2>/dev/null || true
        fi
        rm -rf "$new"/var/cache/apt/archives/*.deb
        echo "$key" >"$new/.dpdk-rs-complete"
        if [ -d "$tree" ]; then
            mv "$tree" "$tree.old.$$"
            mv "$new" "$tree"
            rm -rf "$tree.old.$$"
        else
            mv "$new" "$tree"
        fi
        echo "$tree"
        exit 0
    fi
    tail -5 "$log" >&2
done
rm -rf "$new"
echo "debian-tree: could not debootstrap $suite $arch (log: $log)" >&2
exit 1
