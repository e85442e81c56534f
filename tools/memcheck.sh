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
# Binaries without a test to run are skipped. Timing on 2 busy cores, with the
# test builds already there: about 100 s for valgrind, 20 s for ASan; a fresh
# ASan build adds about 3 minutes.
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
    # processes' own address-space layouts do not leave free.
    grep '"reason":"compiler-artifact"' "$json" | grep '"test":true' |
        grep -o '"executable":"[^"]*"' | cut -d'"' -f4 | sort -u |
        grep -v '/vm_[^/]*$' | grep -v '/multi_process-[^/]*$' >"$logs/bins-$label" || true
    if [[ ! -s "$logs/bins-$label" ]]; then
        echo "memcheck: no test binaries found ($label)"
        return 1
    fi
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
# Number of tests a binary would run (ignored ones left out).
runnable() {
    local all ignored
    all=$("$1" --list 2>/dev/null | grep -c ': test$' || true)
    ignored=$("$1" --list --ignored 2>/dev/null | grep -c ': test$' || true)
    echo $((all - ignored))
}

# Runs one test binary under memcheck; writes its summary line to $dir/summary
# and, on failure, the details to $dir/details.
valgrind_one() {
    local bin=$1 name dir t0 rc procs errors lost tests status
    name=$(short "$bin")
    dir="$logs/valgrind/$name"
    mkdir -p "$dir"
    if [[ $(runnable "$bin") -eq 0 ]]; then
        printf 'memcheck: %-20s skip   no test to run here\n' "$name" >"$dir/summary"
        return
    fi
    t0=$(date +%s)
    set +e
    # Child processes are checked too; compilers and tools some tests run are not ours.
    valgrind --tool=memcheck --leak-check=full --show-leak-kinds=definite \
        --errors-for-leak-kinds=definite --error-exitcode=97 \
        --trace-children=yes --child-silent-after-fork=yes \
        --trace-children-skip='*/nm,*/cc,*/gcc,*/cc1,*/as,*/ld,*/collect2,*/pkg-config,*/pkgconf,*/sh,*/bash' \
        --suppressions="$supp" --gen-suppressions=all \
        --log-file="$dir/vg.%p.log" \
        "$bin" >"$dir/output.log" 2>&1
    rc=$?
    set -e
    procs=$(find "$dir" -name 'vg.*.log' | wc -l)
    errors=$(sum_field 'ERROR SUMMARY:' 4 "$dir"/vg.*.log)
    lost=$(sum_field 'definitely lost:' 4 "$dir"/vg.*.log)
    tests=$(grep -h '^test result:' "$dir/output.log" | head -1 | sed 's/^test result: //; s/;.*//')
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
    ) || { failed=1; exit 1; }
    mapfile -t bins <"$logs/bins-asan"
    for bin in "${bins[@]}"; do
        name=$(short "$bin")
        dir="$logs/asan/$name"
        mkdir -p "$dir"
        t0=$(date +%s)
        set +e
        # log_path: one report file per process (children re-executed by tests).
        ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:exitcode=96:log_path=$dir/asan" \
            LSAN_OPTIONS="exitcode=96" \
            "$bin" >"$dir/output.log" 2>&1
        rc=$?
        set -e
        reports=$(find "$dir" -name 'asan.*' | wc -l)
        tests=$(grep -h '^test result:' "$dir/output.log" | head -1 | sed 's/^test result: //; s/;.*//')
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
