#!/usr/bin/env bash
# The crates against the DPDK of one Debian amd64 tree (tools/trees.sh):
# lints, docs and the whole test suite, built and run inside the tree with the
# host's Rust toolchain, in a target directory of its own (target/NAME).
#
#   tools/tree-tests.sh trixie-amd64    Debian 13, DPDK 24.11
#   tools/tree-tests.sh forky-amd64     Debian testing, DPDK 25.11
#
# The PCI driver structures are declared by hand there too (Debian builds DPDK
# without its driver SDK headers): the driver tests over fake sysfs trees here,
# and the VM's driver tests, read them as that release's libraries fill them in.
#
# Where a directory holds the release's bus_pci_driver.h and dev_driver.h
# (DPDK_RS_SDK_INCLUDE_<YY>_<MM>, default $DPDK_RS_CACHE/sdk-headers/<YY.MM> if
# it exists), the layout test compares every field offset with them as well.
# Debian's mirror serves neither 24.11's nor 25.11's source package to this
# project's CI, so a fresh machine relies on the behavioural checks.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/.."
[ $# -eq 1 ] || { echo "usage: tools/tree-tests.sh TREE (tools/trees.sh list)" >&2; exit 2; }
name=$1
tree=$("$here/trees.sh" "$name")
export CARGO_TARGET_DIR="$PWD/target/$name"
inside() { "$here/tree/run" "$tree" "$@"; }

version=$(inside pkg-config --modversion libdpdk)
line=${version%.*}
echo "-- $name tree: DPDK $version"
out=$(inside cargo clippy --workspace --all-targets -- -D warnings 2>&1) || { echo "$out"; exit 1; }
out=$(inside env RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --quiet 2>&1) || { echo "$out"; exit 1; }
out=$(inside cargo test --workspace 2>&1) || { echo "$out"; exit 1; }
grep -q "building against DPDK $version from /usr (distribution)" <<<"$out" ||
    { echo "the build script did not report $name's DPDK"; echo "$out"; exit 1; }
"$here/xtask" test-results - <<<"$out"
# The data-plane tests above ran through the Rust fast path, not the shim, when
# the build script said so (sys/build/features.rs, RUST_FAST_PATH_RELEASES).
if grep -qsx "cargo:rustc-cfg=dpdk_eth_fast_path" "$CARGO_TARGET_DIR"/debug/build/dpdk-sys-*/output; then
    echo "eth fast path: Rust (rte_eth_fp_ops read from Rust)"
else
    echo "eth fast path: the shim's calls"
fi
var="DPDK_RS_SDK_INCLUDE_${line/./_}"
sdk=${!var:-${DPDK_RS_CACHE:-/var/cache/dpdk-rs}/sdk-headers/$line}
if [ -f "$sdk/bus_pci_driver.h" ]; then
    out=$(TREE_RUN_EXTRA="$sdk" inside env DPDK_RS_SDK_INCLUDE="$sdk" \
        cargo test -p dpdk-sys --test driver_layout -- --ignored --nocapture 2>&1) || { echo "$out"; exit 1; }
    "$here/xtask" test-results - --passed 1 <<<"$out" >/dev/null || { echo "$out"; echo "driver layouts: the $line comparison did not pass exactly 1 test"; exit 1; }
    echo "driver layouts: $line compared field by field with $sdk"
else
    echo "driver layouts: $line NOT compared with its headers (none in $sdk;"
    echo "  Debian serves no $line source package here): checked by behaviour only, by the"
    echo "  driver tests above and in the VM. Set $var to $line's"
    echo "  bus_pci_driver.h and dev_driver.h to compare them."
fi
