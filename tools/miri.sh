#!/usr/bin/env bash
# Miri over the pure-Rust parts of dpdk-safe: the library's unit tests and the
# integration tests that need no EAL (address parsing, sysfs parsing over fake
# trees, pread64/pwrite64 register access over plain files). Miri interprets
# the Rust code and reports undefined behaviour: out-of-bounds or misaligned
# accesses, invalid values, aliasing violations, leaks.
#
# Miri cannot call C: tests that reach DPDK, the C shim, ioctl(), mmap of a
# file, memfd_create() or poll() are skipped. The known ones are listed below
# with their reason; a test that newly reaches a foreign function is detected
# (Miri's "can't call foreign function" abort), skipped, named in the summary,
# and the run repeated without it. Any other Miri error fails the run.
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
    # tests over heap buffers, vfio::mapping::tests, run.)
    vfio::mapping::memfd_tests
    # VFIO_DEVICE_GET_REGION_INFO / ioctl numbers come from the C shim.
    the_ioctl_on_a_file_that_is_no_vfio_device_fails_cleanly
    # eventfd signalling waits with poll(): a foreign function.
    vfio::request::tests::a_signal_is_seen_and_stays_seen
    vfio::request::tests::wait_wakes_up_on_a_signal_from_another_thread
)

total_passed=0
summary=()
failed=0

# Runs one test target under Miri; $1 = label, the rest = cargo arguments.
run() {
    local label=$1 log skips=() extra=() t0
    shift
    t0=$(date +%s)
    for s in "${known_skips[@]}"; do skips+=(--skip "$s"); done
    log=$(mktemp)
    while true; do
        if cargo "+$toolchain" miri test -p dpdk-safe "$@" -- "${skips[@]}" >"$log" 2>&1; then
            break
        fi
        # A test that reached a foreign function: skip it, say so, run again.
        local culprit
        culprit=$(grep -o "^test [^ ]* \.\.\. error: unsupported operation: can't call foreign function \`[^\`]*\`" "$log" |
            head -1 | sed "s/^test \([^ ]*\) .*function \`\([^\`]*\)\`/\1 (\2)/") || true
        if [[ -z $culprit ]]; then
            grep -v '^\s*Compiling\|^warning: dpdk-sys' "$log" | tail -40
            summary+=("miri: $label FAILED")
            failed=1
            rm -f "$log"
            return
        fi
        echo "miri: $label: skipping ${culprit%% *}: calls foreign function ${culprit##* }"
        extra+=("${culprit%% *}")
        skips+=(--skip "${culprit%% *}")
        if [[ ${#extra[@]} -ge 20 ]]; then
            summary+=("miri: $label FAILED (more than 20 tests reach foreign functions)")
            failed=1
            rm -f "$log"
            return
        fi
    done
    local passed ignored
    passed=$(sed -n 's/^test result: ok\. \([0-9]*\) passed.*/\1/p' "$log" | head -1)
    ignored=$(sed -n 's/^test result: ok\. [0-9]* passed; [0-9]* failed; \([0-9]*\) ignored.*/\1/p' "$log" | head -1)
    total_passed=$((total_passed + ${passed:-0}))
    summary+=("miri: $label ok, ${passed:-0} passed, ${ignored:-0} ignored, ${#extra[@]} newly skipped, $(($(date +%s) - t0))s")
    rm -f "$log"
}

run "dpdk-safe lib" --lib
run "address_parsing" --test address_parsing
run "sysfs_parsing" --test sysfs_parsing
run "region_access" --test region_access

printf '%s\n' "${summary[@]}"
echo "miri: known skips: ${known_skips[*]}"
if [[ $failed -ne 0 ]]; then
    echo "miri: FAILED after $(($(date +%s) - started))s"
    exit 1
fi
echo "miri: $total_passed tests passed under Miri in $(($(date +%s) - started))s"
