#!/usr/bin/env bash
# The whole test suite: formatting, lints and docs, the tests on x86_64 and on
# i686 (run inside Debian's i386 tree), against Debian 13's DPDK 24.11 (inside
# the Debian 13 tree), the static link, the crates against the
# patched DPDK of patches/, the build-script checks, and the VM tests against
# emulated PCI devices bound to vfio-pci. Run as root on Debian 12.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/.."
"$here/setup.sh"

# Each step's heading says how long the suite has run so far (for CI's budget).
started=$SECONDS
step() { printf '\n== %s (at %d s)\n' "$*" $((SECONDS - started)); }
trap 'printf "\n== done (at %d s)\n" $((SECONDS - started))' EXIT
i686=(--target i686-unknown-linux-gnu)

step "format, lints and docs"
cargo fmt --all -- --check
"$here/check-safety-comments.sh"
cargo clippy --workspace --all-targets -- -D warnings
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --quiet

step "tests, x86_64"
cargo test --workspace

step "net_memif: this crate against dpdk-testpmd in a second process (txonly to Rust, Rust to rxonly)"
cargo test -p dpdk-safe --test eth_memif -- --ignored --test-threads=1

step "multi-process: a secondary's hotplug requests are refused (reserves hugepages)"
cargo test -p dpdk-safe --test multi_process -- --ignored --exact secondary_hotplug_requests_are_refused

step "memory: valgrind memcheck and AddressSanitizer over the host tests"
"$here/memcheck.sh"

step "static link: drivers and buses survive (feature static)"
cargo test -p dpdk -p dpdk-sys --features static

step "tests, i686 (Debian's i386 DPDK)"
(
    source "$here/i686/env.sh"
    cargo clippy --workspace --all-targets "${i686[@]}" -- -D warnings
    cargo test --workspace "${i686[@]}"
)

step "tests, Debian 13 x86_64 (DPDK 24.11, inside the Debian 13 tree)"
"$here/debian13-tests.sh"

step "README's support matrix matches the trees"
"$here/support-matrix.sh" --check

step "patches/: DPDK built from Debian's source with the series, crates against it"
"$here/patched-tests.sh"

step "driver SDK layouts against the headers of Debian's source package"
src=$(ls -d "${DPDK_RS_CACHE:-/var/cache/dpdk-rs}"/src/dpdk-22.11* | head -1)
sdk="${DPDK_RS_CACHE:-/var/cache/dpdk-rs}/bookworm-i386/opt/dpdk-rs-sdk"
mkdir -p "$sdk"
cp "$src/drivers/bus/pci/bus_pci_driver.h" "$src/lib/eal/include/dev_driver.h" "$sdk/"
DPDK_RS_SDK_INCLUDE="$sdk" cargo test -p dpdk-sys --test driver_layout -- --ignored
(
    source "$here/i686/env.sh"
    DPDK_RS_SDK_INCLUDE=/opt/dpdk-rs-sdk cargo test -p dpdk-sys --test driver_layout "${i686[@]}" -- --ignored
)

step "fuzz: every parser of outside input, ${FUZZ_SECONDS:-60} s each"
"$here/fuzz.sh"

step "Miri over the pure-Rust parts"
"$here/miri.sh"

step "build script re-runs only when its inputs change"
"$here/check-noop-rebuild.sh"

step "VM: emulated PCI devices bound to vfio-pci"
"$here/vm-tests.sh"

step "VM: faults (hot-unplug, 1000-cycle leaks, non-root, non-viable group)"
"$here/vm-faults.sh"

step "VM: the patch series' proofs on i386"
"$here/../patches/proof/run.sh"
