#!/usr/bin/env bash
# Memory checks of the host test suite.
#
#  1. valgrind memcheck: every x86_64 test binary of the workspace (dpdk,
#     dpdk-sys, dpdk-safe; the vm_* tests need the VM and are left out) runs
#     under memcheck, child processes included (the tests re-execute themselves
#     for each EAL). Any memory error or definite leak fails the run; the only
#     suppressions are in tools/memcheck.supp, each explained.
#  2. AddressSanitizer + LeakSanitizer: the tests of dpdk, dpdk-sys and
#     dpdk-safe built with -Zsanitizer=address (RUSTC_BOOTSTRAP=1 on the stable
#     toolchain, whose own sanitizer runtime is used: no libclang-rt needed) for
#     x86_64-unknown-linux-gnu, in a target directory of their own.
#
# Binaries without a test to run are skipped; a binary that cannot list its
# tests fails. Each pass starts with a positive control, tools/memcheck-control.rs
# (one byte written past a heap block), built like that pass's tests: memcheck
# must report an invalid write, ASan a heap-buffer-overflow, or the pass fails
# (the checker is not checking). The ASan pass also fails on a test binary
# without ASan's runtime and instrumentation in it. Timing on 2 busy cores,
# with the test builds already there: about 100 s for valgrind, 20 s for ASan;
# a fresh ASan build adds about 3 minutes.
#
# Prints one summary line per binary and per pass, exits non-zero on any error.
# Runs unattended (root in CI, no stdin); installs valgrind with apt-get when
# missing. Environment:
#   MEMCHECK_ASAN=0        skip the sanitizer pass
#   CARGO_TARGET_DIR       target directory of the valgrind pass (default target/)
#   MEMCHECK_ASAN_TARGET   target directory of the ASan pass (default target/asan)
#   MEMCHECK_JOBS=N        binaries checked side by side (default: nproc)
#   MEMCHECK_KEEP=1        keep the logs (printed path) even when all is clean
set -euo pipefail
exec </dev/null
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
cd "$root"
started=$(date +%s)
supp="$here/memcheck.supp"
logs=$(mktemp -d /tmp/dpdk-rs-memcheck.XXXXXX)
failed=0
# xtask (xtask/) reads cargo's JSON messages and libtest's output; built once
# by tools/xtask (target/xtask, without the ASan pass's flags), then called
# directly (the valgrind runs call it side by side).
"$here/xtask" help >/dev/null
xtask() { "$root/target/xtask/debug/xtask" "$@"; }

cleanup() {
    if [[ $failed -eq 0 && ${MEMCHECK_KEEP:-0} != 1 ]]; then
        rm -rf "$logs"
    else
        echo "memcheck: logs kept in $logs"
    fi
}
trap cleanup EXIT

apt_updated=0
install() {
    if [[ $apt_updated -eq 0 ]]; then
        apt-get update -qq
        apt_updated=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}
command -v valgrind >/dev/null || install valgrind

# Builds tests (cargo arguments after the label) and writes their executables
# (compiler artifacts built as tests, vm_* left out) to $logs/bins-LABEL.
build_tests() {
    local label=$1 json="$logs/build-$1.json"
    shift
    if ! cargo test --no-run --message-format=json "$@" >"$json" 2>"$json.err"; then
        tail -40 "$json.err"
        echo "memcheck: building the tests ($label) failed"
        return 1
    fi
    # multi_process is left out too: a DPDK secondary must map the primary's
    # hugepage memory at the primary's addresses, which the instrumented
    # processes' own address-space layouts do not leave free. xtask's own
    # tests check tooling, not the library.
    xtask executables --json "$json" --tests-only --exclude 'vm_*' --exclude multi_process \
        --exclude xtask >"$logs/bins-$label" || true
    if [[ ! -s "$logs/bins-$label" ]]; then
        echo "memcheck: no test binaries found ($label)"
        return 1
    fi
}

# Builds the positive control into $logs/control-LABEL/ (cargo arguments after
# the label, with the caller's RUSTFLAGS) and prints the executable's path.
build_control() {
    local label=$1 dir="$logs/control-$1"
    shift
    mkdir -p "$dir"
    printf '[package]\nname = "memcheck-control"\nversion = "0.0.0"\nedition = "2021"\n[[bin]]\nname = "memcheck-control"\npath = "%s"\n[workspace]\n' \
        "$here/memcheck-control.rs" >"$dir/Cargo.toml"
    if ! CARGO_TARGET_DIR="$dir/target" cargo build --quiet --manifest-path "$dir/Cargo.toml" \
        --message-format=json "$@" >"$dir/build.json" 2>"$dir/build.err"; then
        cat "$dir/build.err" >&2
        echo "memcheck: building the positive control ($label) failed" >&2
        return 1
    fi
    xtask executables --json "$dir/build.json" --name memcheck-control
}

# Test binary name without cargo's hash.
short() { basename "$1" | sed 's/-[0-9a-f]\{16\}$//'; }

# Sums field $2 (numbers with thousands separators) of the lines matching $1.
sum_field() {
    local pattern=$1 field=$2
    shift 2
    cat "$@" 2>/dev/null | grep -h "$pattern" | awk -v f="$field" '{gsub(",", "", $f); s += $f} END {print s + 0}'
}

# ---------------------------------------------------------------- valgrind
echo "== valgrind memcheck (suppressions: $supp)"
build_tests valgrind --workspace || { failed=1; exit 1; }
mapfile -t bins <"$logs/bins-valgrind"

# Runs a command under memcheck with the options of the whole pass, one log per
# process in $1.
vg() {
    local dir=$1
    shift
    # Child processes are checked too; compilers and tools some tests run are not ours.
    valgrind --tool=memcheck --leak-check=full --show-leak-kinds=definite \
        --errors-for-leak-kinds=definite --error-exitcode=97 \
        --trace-children=yes --child-silent-after-fork=yes \
        --trace-children-skip='*/nm,*/cc,*/gcc,*/cc1,*/as,*/ld,*/collect2,*/pkg-config,*/pkgconf,*/sh,*/bash' \
        --suppressions="$supp" --gen-suppressions=all \
        --log-file="$dir/vg.%p.log" \
        "$@"
}

# Positive control: memcheck, as run on the tests, must see the overflow.
control=$(build_control valgrind) || { failed=1; exit 1; }
mkdir -p "$logs/valgrind-control"
rc=0
vg "$logs/valgrind-control" "$control" >"$logs/valgrind-control/output.log" 2>&1 || rc=$?
if [[ $rc -eq 97 ]] && grep -q 'Invalid write of size 1' "$logs/valgrind-control"/vg.*.log; then
    printf 'memcheck: %-20s ok     the deliberate heap overflow is reported (invalid write, exit %d)\n' control $rc
else
    printf 'memcheck: %-20s FAILED the deliberate heap overflow is not reported as an invalid write (exit %d): the checker is not checking\n' control $rc
    cat "$logs/valgrind-control"/vg.*.log "$logs/valgrind-control/output.log" 2>/dev/null | tail -20 || true
    failed=1
fi

# Number of tests a binary would run (ignored ones left out). Fails, with the
# binary's output on stderr, when it cannot list its tests.
runnable() { xtask count-tests --runnable "$1"; }

# Runs one test binary under memcheck; writes its summary line to $dir/summary
# and, on failure, the details to $dir/details.
valgrind_one() {
    local bin=$1 name dir t0 rc procs errors lost tests status count
    name=$(short "$bin")
    dir="$logs/valgrind/$name"
    mkdir -p "$dir"
    if ! count=$(runnable "$bin" 2>"$dir/details"); then
        printf 'memcheck: %-20s FAILED cannot list its tests (%s --list failed)\n' "$name" "$bin" >"$dir/summary"
        touch "$dir/failed"
        return
    fi
    if [[ $count -eq 0 ]]; then
        printf 'memcheck: %-20s skip   no test to run here\n' "$name" >"$dir/summary"
        return
    fi
    t0=$(date +%s)
    set +e
    # Two data-path tests take minutes under valgrind, which runs one thread
    # at a time: the million-packet test, and workers_on_lcores, whose
    # lcores poll each other's rings (502 s alone, measured). Both run
    # natively and under AddressSanitizer; their shorter siblings (the same
    # mbuf, ring and burst paths) run here. The examples' option-style tests
    # start 34 processes that stop in argument parsing (safe Rust, no DPDK);
    # --help and the bad-argument tests keep one run of each example here.
    vg "$dir" "$bin" --skip million_packets_accounted_and_no_allocation \
        --skip workers_on_lcores --skip unknown_short_and_valueless_options_are_usage_errors \
        --skip option_values_may_follow_an_equals_sign >"$dir/output.log" 2>&1
    rc=$?
    set -e
    procs=$(find "$dir" -name 'vg.*.log' | wc -l)
    errors=$(sum_field 'ERROR SUMMARY:' 4 "$dir"/vg.*.log)
    lost=$(sum_field 'definitely lost:' 4 "$dir"/vg.*.log)
    tests=$(xtask test-summary "$dir/output.log" || true)
    status=ok
    if [[ $rc -ne 0 || $errors -ne 0 || $lost -ne 0 ]]; then
        status=FAILED
        touch "$dir/failed"
        {
            grep -l -E 'ERROR SUMMARY: [1-9]|definitely lost: [1-9]' "$dir"/vg.*.log 2>/dev/null |
                head -3 | xargs -r sed -n '/Invalid\|uninitialised\|definitely lost in\|Mismatched\|overlap/,/^==[0-9]*== $/p' | head -80 || true
            grep -E 'panicked|FAILED' "$dir/output.log" | head -10 || true
        } >"$dir/details"
    fi
    printf 'memcheck: %-20s %-6s %3d process(es), %d error(s), %d bytes definitely lost, tests %s, exit %d, %ds\n' \
        "$name" "$status" "$procs" "$errors" "$lost" "${tests:-none}" "$rc" $(($(date +%s) - t0)) >"$dir/summary"
}

# Binaries run side by side (valgrind runs a process's threads one at a time).
jobs=${MEMCHECK_JOBS:-$(nproc)}
for bin in "${bins[@]}"; do
    while [[ $(jobs -rp | wc -l) -ge $jobs ]]; do wait -n || true; done
    valgrind_one "$bin" &
done
wait
for bin in "${bins[@]}"; do
    dir="$logs/valgrind/$(short "$bin")"
    cat "$dir/summary"
    if [[ -e "$dir/failed" ]]; then
        failed=1
        cat "$dir/details"
    fi
done
echo "memcheck: valgrind pass took $(($(date +%s) - started))s"

# ---------------------------------------------------------------- AddressSanitizer
if [[ ${MEMCHECK_ASAN:-1} != 0 ]]; then
    echo "== AddressSanitizer + LeakSanitizer"
    target=x86_64-unknown-linux-gnu
    export CARGO_TARGET_DIR=${MEMCHECK_ASAN_TARGET:-$root/target/asan}
    # Only the Rust code is instrumented (DPDK and the shim are not); the
    # sanitizer's allocator and leak check still cover every malloc/free.
    (
        export RUSTC_BOOTSTRAP=1 RUSTFLAGS="-Zsanitizer=address" RUSTDOCFLAGS="-Zsanitizer=address"
        # The library crates' tests (the benches crate has none to run).
        build_tests asan -p dpdk-safe -p dpdk-sys -p dpdk --target "$target"
        # The positive control, built with the same flags for the same target.
        build_control asan --target "$target" >"$logs/control-asan.path"
    ) || { failed=1; exit 1; }
    mapfile -t bins <"$logs/bins-asan"
    # Runs a command with the pass's sanitizer options; log_path: one report
    # file per process in $1 (children re-executed by tests).
    asan_run() {
        local dir=$1
        shift
        ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:exitcode=96:log_path=$dir/asan" \
            LSAN_OPTIONS="exitcode=96" "$@"
    }

    # Positive control: ASan, with the tests' flags and options, must see the overflow.
    control=$(cat "$logs/control-asan.path")
    dir="$logs/asan-control"
    mkdir -p "$dir"
    rc=0
    asan_run "$dir" "$control" >"$dir/output.log" 2>&1 || rc=$?
    if [[ $rc -eq 96 ]] && grep -qs 'ERROR: AddressSanitizer: heap-buffer-overflow' "$dir"/asan.*; then
        printf 'asan:     %-20s ok     the deliberate heap overflow is reported (heap-buffer-overflow, exit %d)\n' control $rc
    else
        printf 'asan:     %-20s FAILED the deliberate heap overflow is not reported as a heap-buffer-overflow (exit %d): the checker is not checking\n' control $rc
        cat "$dir"/asan.* "$dir/output.log" 2>/dev/null | tail -20 || true
        failed=1
    fi

    for bin in "${bins[@]}"; do
        name=$(short "$bin")
        dir="$logs/asan/$name"
        mkdir -p "$dir"
        # Built instrumented: ASan's runtime and the instrumented code's
        # module constructor are in the binary.
        symbols=$(nm "$bin" 2>/dev/null | awk '$NF == "__asan_init" || $NF == "asan.module_ctor" { print $NF }' | sort -u | wc -l || true)
        if [[ $symbols -ne 2 ]]; then
            printf 'asan:     %-20s FAILED not built with AddressSanitizer (no __asan_init or asan.module_ctor in %s)\n' "$name" "$bin"
            failed=1
            continue
        fi
        t0=$(date +%s)
        set +e
        asan_run "$dir" "$bin" >"$dir/output.log" 2>&1
        rc=$?
        set -e
        reports=$(find "$dir" -name 'asan.*' | wc -l)
        tests=$(xtask test-summary "$dir/output.log" || true)
        status=ok
        if [[ $rc -ne 0 || $reports -ne 0 ]]; then
            status=FAILED
            failed=1
        fi
        printf 'asan:     %-20s %-6s %d report(s), tests %s, exit %d, %ds\n' \
            "$name" "$status" "$reports" "${tests:-none}" "$rc" $(($(date +%s) - t0))
        if [[ $status == FAILED ]]; then
            find "$dir" -name 'asan.*' | head -2 | xargs -r head -40
            grep -E 'panicked|FAILED' "$dir/output.log" | head -10 || true
        fi
    done
fi

total=$(($(date +%s) - started))
if [[ $failed -ne 0 ]]; then
    echo "memcheck: FAILED after ${total}s"
    exit 1
fi
echo "memcheck: all clean in ${total}s"
