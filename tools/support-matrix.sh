#!/usr/bin/env bash
# The README's support matrix, made from what is installed where the test suite
# runs (each tree's pkg-config), so a release moving under the project shows up.
#
#   tools/support-matrix.sh           prints the table
#   tools/support-matrix.sh --check   fails unless README.md holds exactly it
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/.."
: "${DPDK_RS_CACHE:=/var/cache/dpdk-rs}"

# YY.MM of the DPDK that pkg-config finds (in a tree, when given one).
line_of() {
    local version
    if [ -n "${1:-}" ]; then
        version=$("$here/tree/run" "$1" pkg-config --modversion libdpdk)
    else
        version=$(pkg-config --modversion libdpdk)
    fi
    echo "${version%.*}"
}
host=$(line_of)
# YY.MM of the DPDK in a cross sysroot $1 of multiarch $2.
sysroot_line() {
    local version
    version=$(PKG_CONFIG_SYSROOT_DIR="$1" PKG_CONFIG_LIBDIR="$1/usr/lib/$2/pkgconfig" \
        pkg-config --modversion libdpdk)
    echo "${version%.*}"
}
i386=$(sysroot_line "$DPDK_RS_CACHE/bookworm-i386" i386-linux-gnu)
debian13=$(line_of "$DPDK_RS_CACHE/trixie-amd64")
testing=$(line_of "$DPDK_RS_CACHE/forky-amd64")
arm12=$(sysroot_line "$DPDK_RS_CACHE/bookworm-arm64" aarch64-linux-gnu)
arm13=$(sysroot_line "$DPDK_RS_CACHE/trixie-arm64" aarch64-linux-gnu)

table() {
    echo "| distribution | DPDK | architecture | tested on every CI run |"
    echo "| --- | --- | --- | --- |"
    echo "| Debian 12 | $host (Debian's packages) | x86_64 | the whole suite: lints, docs, tests, bad-input matrix, valgrind and ASan, Miri, \`static\` feature, fuzzing, VM tests (VFIO with both backends, mappings, Rust drivers, DMA, packets through DPDK's e1000e driver, hot-unplug, non-root, 1000-cycle leaks) |"
    echo "| Debian 12 | $i386 (Debian's packages) | i386 (i686 target) | lints, tests in the i386 tree, VM tests (pread/pwrite path; no mapping API on 32-bit; VFIO and DMA with both backends; packets through DPDK's e1000e driver), VM fault tests: the 1000-cycle leak test only (hot-unplug can run once per boot and runs as x86_64; the non-root and non-viable-group tests exercise no 32-bit-specific code) |"
    echo "| Debian 12 | $host + \`patches/\` | x86_64, i386 | tests against the patched builds, the proofs in the VM |"
    echo "| Debian 13 | $debian13 (Debian's packages) | x86_64 | lints and tests in the Debian 13 tree, VM tests (VFIO and DMA with both backends, Rust drivers, \`rte_pci_mmio_read\` path); no VM fault tests (they exercise the kernel's VFIO paths and this crate's code, which 24.11 does not change; its VFIO calls are the same \`rte_vfio_*\` functions); driver structure layouts checked by behaviour only (no 24.11 headers reach CI: see tools/tree-tests.sh) |"
    echo "| Debian 13 | none | i386 | not possible: Debian 13 builds no i386 DPDK packages |"
    echo "| Debian testing (forky) | $testing (Debian's packages) | x86_64 | lints, docs and tests in the Debian testing tree, VM tests (VFIO and DMA with both backends, Rust drivers, \`rte_pci_mmio_read\` path); no VM fault tests (as for 24.11: the same \`rte_vfio_*\` calls); driver structure layouts checked by behaviour only (no $testing headers reach CI: see tools/tree-tests.sh) |"
    echo "| Debian testing (forky) | none | i386 | not possible: Debian testing builds no i386 DPDK packages |"
    echo "| Debian 12 | $arm12 (Debian's arm64 packages) | aarch64 | cross-built lints and the host tests, run as arm64 binaries under \`qemu-aarch64\` (user-mode emulation) in an arm64 sysroot; no VM tests |"
    echo "| Debian 13 | $arm13 (Debian's arm64 packages) | aarch64 | cross-built lints and the host tests, run as arm64 binaries under \`qemu-aarch64\` (user-mode emulation) in an arm64 sysroot; no VM tests |"
}

if [ "${1:-}" = --check ]; then
    want=$(table)
    have=$(sed -n '/^<!-- support-matrix: begin/,/^<!-- support-matrix: end/p' README.md | sed '1d;$d')
    if [ "$want" != "$have" ]; then
        echo "README.md's support matrix is out of date; tools/support-matrix.sh says:" >&2
        diff <(echo "$have") <(echo "$want") >&2 || true
        exit 1
    fi
    echo "support matrix: README.md matches (Debian 12: $host, Debian 13: $debian13, testing: $testing, arm64: $arm12 and $arm13)"
else
    table
fi
