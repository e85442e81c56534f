#!/usr/bin/env bash
# The whole test suite: formatting, lints and docs, the tests on x86_64 and on
# i686 (run inside Debian's i386 tree), against Debian 13's DPDK 24.11 and
# Debian testing's 25.11 (inside their trees), on aarch64 against Debian 12's
# and 13's arm64 DPDK (under qemu-aarch64), the static link, the crates against the
# patched DPDK of patches/, the build-script checks, and the VM tests against
# emulated PCI devices bound to vfio-pci. Run as root on Debian 12. Two lanes
# of steps run side by side (second_lane below); each prints its steps' durations.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/.."

# Each step's heading says how long the suite has run so far, and each step's
# duration is printed when it ends and again, all together, at the end (for
# CI's budget).
# The CPU time a step's processes used is printed beside its wall time: a
# step whose CPU time is near its wall time keeps one of the two cores busy,
# one near twice its wall time keeps both.
started=$SECONDS
current="" current_at=0 current_cpu=0 durations=()
tick=$(getconf CLK_TCK)
# The lane's shell (read from command substitutions, whose own PID differs).
lane_pid=$$
children_cpu() { # user + system time of the children waited for, in seconds
    local f
    read -r -a f </proc/"$lane_pid"/stat
    echo $(((f[15] + f[16]) / tick))
}
end_step() {
    [ -n "$current" ] || return 0
    local took=$((SECONDS - current_at)) cpu=$(($(children_cpu) - current_cpu))
    printf -- '-- took %d s (cpu %d s): %s\n' "$took" "$cpu" "$current"
    durations+=("$(printf '%6d s  cpu %6d s  %s' "$took" "$cpu" "$current")")
    current=""
}
step() {
    end_step
    current="$*" current_at=$SECONDS current_cpu=$(children_cpu)
    printf '\n== %s (at %d s)\n' "$*" $((SECONDS - started))
}
outcome() { [ "$1" = 0 ] && echo passed || echo "FAILED: $1"; }
# At the end of each lane: its steps' durations. The host lane (the script
# itself) waits for the second lane first, prints its log, and ends with the
# suite's total and outcome.
summary() {
    local rc=$? lane2_rc=0 host_done
    end_step
    host_done=$((SECONDS - started))
    if [ "${lane:-host}" = second ]; then
        printf '\n== step durations (second lane)\n'
        printf '%s\n' "${durations[@]}"
        printf '== the second lane is done (at %d s, %s)\n' "$host_done" "$(outcome "$rc")"
        exit "$rc"
    fi
    finish_second_lane "$rc" || lane2_rc=$?
    printf '\n== step durations (host lane, done at %d s)\n' "$host_done"
    printf '%s\n' "${durations[@]}"
    ((rc != 0)) || rc=$lane2_rc
    printf '== done (at %d s, %s)\n' $((SECONDS - started)) "$(outcome "$rc")"
    exit "$rc"
}
trap summary EXIT

# Most steps keep one of the two cores busy, not both (their CPU time is
# near their wall time: one crate's compiler, tests run one at a time, QEMU's
# guest, valgrind, qemu-aarch64). So the suite runs in two lanes: the steps
# below run in the background as a second lane beside the host lane's steps,
# from the point where the static link step is done (it rewrites
# target/debug/examples/, which two VM steps run from). The aarch64 lines
# first (target directories of their own), then the VM steps, whose builds by
# then are mostly the host lane's. The second lane's log is kept in a file
# and printed whole when both lanes are done; a failure in either fails the
# suite.
second_lane() {
    step "tests, aarch64 (Debian 12's arm64 DPDK 22.11, under qemu-aarch64)"
    "$here/aarch64-tests.sh" bookworm-arm64

    step "tests, aarch64 (Debian 13's arm64 DPDK 24.11, under qemu-aarch64)"
    "$here/aarch64-tests.sh" trixie-arm64

    step "VM: emulated PCI devices bound to vfio-pci"
    "$here/vm-tests.sh"

    step "VM: an NVMe driver written with the toolkit, on QEMU's NVMe controller (x86_64, i686)"
    "$here/vm-nvme.sh"

    step "VM: packets through DPDK's e1000e driver, two NICs on a QEMU hub (x86_64, i686, l2fwd)"
    "$here/vm-packets.sh"

    step "VM: faults (hot-unplug, 1000-cycle leaks, non-root, non-viable group)"
    "$here/vm-faults.sh"

    step "VM: the patch series' proofs on i386"
    "$here/../patches/proof/run.sh"
}
lane2_log="" lane2_pid=""
start_second_lane() {
    lane2_log=$(mktemp "${TMPDIR:-/tmp}/dpdk-rs-lane2.XXXXXX")
    printf '\n== the second lane starts (at %d s); its log follows the host lane\n' $((SECONDS - started))
    # Job control for the fork alone: the lane gets a process group of its
    # own, which a failing host lane stops whole (QEMU included).
    set -m
    (
        lane=second durations=() current="" lane_pid=$BASHPID
        trap summary EXIT
        trap 'exit 143' TERM
        second_lane
    ) >"$lane2_log" 2>&1 </dev/null &
    lane2_pid=$!
    set +m
}
# Waits for the second lane (stops it first when the host lane failed),
# prints its log, and returns its status.
finish_second_lane() {
    local host_rc=$1 rc=0
    [ -n "$lane2_pid" ] || return 0
    if ((host_rc != 0)) && kill -0 "$lane2_pid" 2>/dev/null; then
        echo "== the host lane failed: stopping the second lane (process group $lane2_pid)"
        kill -TERM -- "-$lane2_pid" 2>/dev/null || true
    fi
    wait "$lane2_pid" || rc=$?
    printf '\n== the second lane'"'"'s log\n'
    cat "$lane2_log"
    rm -f "$lane2_log"
    lane2_pid=""
    return "$rc"
}

step "setup: packages, targets, Debian trees, the VM's kernel"
"$here/setup.sh"
i686=(--target i686-unknown-linux-gnu)

step "format, lints and docs"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --quiet
# The benchmarks on their own features, as tools/bench.sh builds them (the
# workspace build above unifies features and would hide a missing one).
cargo check -q -p dpdk-benches --all-targets
# The build for a DPDK without public rte_vfio_* (26.11 and later): only the
# crate's own VFIO container; lints and the unit tests that say so. In the
# same target directory: only dpdk-sys's build script and the crates above it
# run again (twice: here and in the next step), not the whole dependency tree.
DPDK_RS_PRETEND_NO_RTE_VFIO=1 cargo clippy -p dpdk-safe --all-targets -- -D warnings
DPDK_RS_PRETEND_NO_RTE_VFIO=1 cargo test -q -p dpdk-safe --lib vfio_backend

step "tests, x86_64"
cargo test --workspace

step "static link: drivers and buses survive (feature static)"
cargo test -p dpdk -p dpdk-sys --features static

# Before the fork: it changes the machine's hugepage reservation, which a
# hugepage test of the other lane reads.
step "multi-process: a secondary's hotplug requests are refused (reserves hugepages)"
cargo test -p dpdk-safe --test multi_process -- --ignored --exact secondary_hotplug_requests_are_refused

# The second lane starts here, beside the host lane's steps below: see
# second_lane above.
start_second_lane

step "packaging: cargo package and publish --dry-run, an outside application on the tarballs"
"$here/package-check.sh"

step "docs without DPDK: DOCS_RS build on the pregenerated bindings"
"$here/docs-rs-check.sh"

step "memory: valgrind memcheck and AddressSanitizer over the host tests"
"$here/memcheck.sh"

step "tests, i686 (Debian's i386 DPDK)"
(
    source "$here/i686/env.sh"
    cargo clippy --workspace --all-targets "${i686[@]}" -- -D warnings
    cargo test --workspace "${i686[@]}"
)

step "tests, Debian 13 x86_64 (DPDK 24.11, inside the Debian 13 tree)"
"$here/tree-tests.sh" trixie-amd64

step "tests, Debian testing x86_64 (DPDK 25.11, inside the Debian testing tree)"
"$here/tree-tests.sh" forky-amd64

step "README's support matrix matches the trees"
"$here/support-matrix.sh" --check

step "patches/: DPDK built from Debian's source with the series, crates against it"
"$here/patched-tests.sh"

step "patches/upstream: DPDK's check-git-log.sh and checkpatches.sh on upstream main"
rc=0
"$here/../patches/check-upstream.sh" || rc=$?
if ((rc == 77)); then
    echo "skipped: no upstream DPDK git on this machine (DPDK_UPSTREAM_GIT)"
elif ((rc != 0)); then
    exit "$rc"
fi

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

step "fuzz: every parser of outside input, ${FUZZ_SECONDS:-30} s each, on the corpus earlier runs kept"
"$here/fuzz.sh"

step "Miri over the pure-Rust parts"
"$here/miri.sh"

step "build script re-runs only when its inputs change"
"$here/check-noop-rebuild.sh"

