#!/usr/bin/env bash
# Miri over the pure-Rust parts of dpdk-safe: the library's unit tests and the
# integration tests that need no EAL (address parsing, sysfs parsing over fake
# trees, pread64/pwrite64 register access over plain files). Miri interprets
# the Rust code and reports undefined behaviour: out-of-bounds or misaligned
# accesses, invalid values, aliasing violations, leaks.
#
# Miri cannot call C: tests that reach DPDK, the C shim, ioctl(), mmap of a
# file, memfd_create() or poll() are skipped. Those are listed below with their
# reason (known_skips); a test that newly reaches a foreign function fails the
# run, named with the function (Miri's "can't call foreign function" abort):
# run it elsewhere or add it to known_skips with its reason. Each target must
# pass at least its minimum number of tests (the table `targets` below, the
# counts of today) and the known skips must take out exactly the number of its
# tests the table says, so that neither a test lost to a filter nor a test
# newly caught by a skip passes unnoticed. Any other Miri error fails the run.
#
# Uses the nightly toolchain (installs the miri and rust-src components when
# missing) and a target directory of its own ($MIRI_TARGET_DIR, default
# target/miri). Runs unattended (no stdin).
set -euo pipefail
exec </dev/null
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/.."
started=$(date +%s)
toolchain=${MIRI_TOOLCHAIN:-nightly}
export CARGO_TARGET_DIR=${MIRI_TARGET_DIR:-$PWD/target/miri}

if ! rustup toolchain list | grep -q "^$toolchain"; then
    rustup toolchain install --profile minimal "$toolchain"
fi
if ! rustup component list --toolchain "$toolchain" --installed | grep -q '^miri'; then
    rustup component add miri rust-src --toolchain "$toolchain"
fi
cargo "+$toolchain" miri setup >/dev/null 2>&1 || cargo "+$toolchain" miri setup

# -Zmiri-disable-isolation: the tests read and write real files (fake sysfs
#   trees, region files) and the clock.
# -Zmiri-no-short-fd-operations: Miri otherwise makes reads and writes of files
#   randomly short. RegionIo issues one pread64/pwrite64 per register on
#   purpose (a device register must not be split into two accesses) and reports
#   a short one as AccessError::Short, which those tests would then see.
export MIRIFLAGS="${MIRIFLAGS:--Zmiri-disable-isolation -Zmiri-no-short-fd-operations}"

# Tests Miri cannot run, as `--skip` filters (substrings of test names):
known_skips=(
    # memfd_create + mmap64 of the memfd: foreign functions. (The mapping
    # tests over heap buffers, io::mapped::tests, run.)
    io::mapped::memfd_tests
    # VFIO_DEVICE_GET_REGION_INFO / ioctl numbers come from the C shim.
    the_ioctl_on_a_file_that_is_no_vfio_device_fails_cleanly
    # eventfd signalling waits with poll(): a foreign function.
    vfio::request::tests::a_signal_is_seen_and_stays_seen
    vfio::request::tests::wait_wakes_up_on_a_signal_from_another_thread
    vfio::irq::tests::eventfds_count_and_time_out
    # The ioctl numbers the crate computes against the shim's, which reads
    # them from <linux/vfio.h>: C functions.
    vfio::container::tests::ioctl_numbers_match_the_kernel_headers
    # VFIO_DEVICE_GET_IRQ_INFO / VFIO_DEVICE_RESET on /dev/null: ioctl.
    vfio::irq::tests::the_ioctls_on_a_file_that_is_no_vfio_device_fail_cleanly
    # Compare with DPDK's own parser and names (rte_pci_addr_parse,
    # rte_pci_device_name): C functions.
    parse_agrees_with_rte_pci_addr_parse
    display_is_rte_pci_device_name
)

# Per test target: the fewest tests that must pass under Miri (today's count:
# raise it when tests are added), how many of its tests the known skips take
# out (exactly), and its cargo arguments.
#   label            passed at least  skipped  cargo arguments
targets=(
    "lib              48  10 --lib"
    "address_parsing  5   2  --test address_parsing"
    "sysfs_parsing    6   0  --test sysfs_parsing"
    "region_access    3   0  --test region_access"
)

total_passed=0
summary=()
failed=0

# The log checks (xtask/; tools/xtask builds it in a target directory of its own).
xtask() { "$here/xtask" "$@"; }

# Runs one test target under Miri: label, minimum passed, skipped, cargo
# arguments. xtask reads the log: a foreign function reached (named with the
# test), another failure, no or more than one result line, fewer passed than
# the minimum, or another number of skipped tests than the table's, fail.
run() {
    local label=$1 min=$2 want_skipped=$3 log skips=() t0 rc=0 out
    shift 3
    t0=$(date +%s)
    for s in "${known_skips[@]}"; do skips+=(--skip "$s"); done
    log=$(mktemp)
    cargo "+$toolchain" miri test -p dpdk-safe "$@" -- "${skips[@]}" >"$log" 2>&1 || rc=$?
    if out=$(xtask miri-result "$log" --exit "$rc" --min "$min" --skipped "$want_skipped"); then
        total_passed=$((total_passed + ${out%% *}))
        summary+=("miri: $label ok, ${out#* }, $(($(date +%s) - t0))s")
    else
        summary+=("miri: $label FAILED: ${out#* }")
        failed=1
    fi
    rm -f "$log"
}

for t in "${targets[@]}"; do
    read -r -a fields <<<"$t"
    run "${fields[@]}"
done

printf '%s\n' "${summary[@]}"
echo "miri: known skips: ${known_skips[*]}"
if [[ $failed -ne 0 ]]; then
    echo "miri: FAILED after $(($(date +%s) - started))s"
    exit 1
fi
echo "miri: $total_passed tests passed under Miri in $(($(date +%s) - started))s"
