#!/usr/bin/env bash
# The crates against Debian 13's DPDK 24.11: lints and the whole test suite,
# built and run inside the Debian 13 amd64 tree (tools/debian13-tree.sh) with the
# host's Rust toolchain. The PCI driver structures are declared by hand there
# too (Debian builds DPDK without its driver SDK headers): the driver tests over
# fake sysfs trees here, and the VM's driver tests, read them as 24.11's
# libraries fill them in.
#
# Where a directory holds 24.11's bus_pci_driver.h and dev_driver.h
# (DPDK_RS_SDK_INCLUDE_24_11, default $DPDK_RS_CACHE/sdk-headers/24.11 if it
# exists), the layout test compares every field offset with them as well.
# Debian's mirror does not serve 24.11's source package to this project's CI,
# so a fresh machine relies on the behavioural checks.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/.."
tree=$("$here/debian13-tree.sh")
export CARGO_TARGET_DIR="$PWD/target/trixie-amd64"
inside() { "$here/tree/run" "$tree" "$@"; }

version=$(inside pkg-config --modversion libdpdk)
echo "-- Debian 13 tree: DPDK $version"
out=$(inside cargo clippy --workspace --all-targets -- -D warnings 2>&1) || { echo "$out"; exit 1; }
out=$(inside env RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --quiet 2>&1) || { echo "$out"; exit 1; }
out=$(inside cargo test --workspace 2>&1) || { echo "$out"; exit 1; }
grep -q "building against DPDK $version from /usr (distribution)" <<<"$out" ||
    { echo "the build script did not report Debian 13's DPDK"; echo "$out"; exit 1; }
"$here/xtask" test-results - <<<"$out"
: "${DPDK_RS_SDK_INCLUDE_24_11:=${DPDK_RS_CACHE:-/var/cache/dpdk-rs}/sdk-headers/24.11}"
if [ -f "$DPDK_RS_SDK_INCLUDE_24_11/bus_pci_driver.h" ]; then
    out=$(TREE_RUN_EXTRA="$DPDK_RS_SDK_INCLUDE_24_11" inside env DPDK_RS_SDK_INCLUDE="$DPDK_RS_SDK_INCLUDE_24_11" \
        cargo test -p dpdk-sys --test driver_layout -- --ignored --nocapture 2>&1) || { echo "$out"; exit 1; }
    "$here/xtask" test-results - --passed 1 <<<"$out" >/dev/null ||
        { echo "$out"; echo "driver layouts: the 24.11 comparison did not pass exactly its 1 test"; exit 1; }
    echo "driver layouts: 24.11 compared field by field with $DPDK_RS_SDK_INCLUDE_24_11"
else
    echo "driver layouts: 24.11 NOT compared with its headers (none in $DPDK_RS_SDK_INCLUDE_24_11;"
    echo "  Debian serves no 24.11 source package here): checked by behaviour only, by the"
    echo "  driver tests above and in the VM. Set DPDK_RS_SDK_INCLUDE_24_11 to 24.11's"
    echo "  bus_pci_driver.h and dev_driver.h to compare them."
fi
