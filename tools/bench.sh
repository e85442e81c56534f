#!/usr/bin/env bash
# Runs the benchmark suite (benches/, crate dpdk-benches) in one go and writes
# bench-results/results.md, bench-results/*.png and the raw figures
# (bench-results/raw.tsv), and rewrites the figures block of benches/README.md
# from this run's figures alone. See benches/README.md for what is measured and
# the targets.
#
#   tools/bench.sh [--vm] [--no-lto] [--no-build-times] [--no-readme] [--out DIR]
#
#   --vm              also run the mapped and pread paths in the QEMU VM over
#                     ivshmem BAR2 (tools/vm/run.sh; needs tools/setup.sh's VM kernel)
#   --no-lto          skip the cross-language LTO build of the shim benchmark
#   --no-build-times  skip the clean build and no-op rebuild timings
#   --no-readme       leave benches/README.md's figures block as it is
#
# CARGO_TARGET_DIR is honoured (default: target/); the LTO build and the clean
# build use their own directories next to it (…-lto, …-clean).
# The plots' font (DejaVu Sans, Debian package fonts-dejavu-core) is installed
# with apt-get when it is missing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/.."
vm=0 lto=1 build_times=1 readme=1 out=bench-results
command="tools/bench.sh $*"
while (($#)); do
    case "$1" in
        --vm) vm=1 ;;
        --no-lto) lto=0 ;;
        --no-build-times) build_times=0 ;;
        --no-readme) readme=0 ;;
        --out) out=$2; shift ;;
        *) sed -n 's/^#   //p' "$0" >&2; exit 2 ;;
    esac
    shift
done
target_dir=${CARGO_TARGET_DIR:-$PWD/target}

# bench-report draws the plots' text with DejaVu Sans, read at run time (no
# font file is in the repository).
font=/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf
if [[ ! -r $font ]]; then
    echo "bench: installing fonts-dejavu-core (the plots' font, $font)"
    if ((EUID == 0)); then
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends fonts-dejavu-core ||
            { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends fonts-dejavu-core; }
    else
        sudo DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends fonts-dejavu-core
    fi
fi
mkdir -p "$out"
raw="$out/raw.tsv"
: >"$raw"
note() { printf 'NOTE\t%s\t%s\n' "$1" "$2" >>"$raw"; }
note date "$(date -u '+%Y-%m-%d %H:%M UTC')"
note host "$(uname -srm), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) cores; rustc $(rustc --version | cut -d' ' -f2), $(cc --version | head -1)"
note commit "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (with local changes)')"
note command "$command"

# The benchmark binaries, by name, from cargo's JSON messages.
bench_binaries() {
    "$here/xtask" executables --with-names -- cargo bench -p dpdk-benches --no-run "$@"
}
echo "bench: building (cargo bench -p dpdk-benches --no-run)"
cargo bench -p dpdk-benches --no-run
cargo build --release -p dpdk-benches --bin bench-report
declare -A bin
while read -r name path; do bin[$name]=$path; done < <(bench_binaries)

run() { # NAME ARGS...: runs one benchmark, its output to the terminal and raw.tsv
    echo "bench: $1"
    "${bin[$1]}" "${@:2}" | tee -a "$raw" | grep -v -e '^RESULT' -e '^NOTE'
}
run bar_access
run enumeration
run startup
run shim_call
run forwarding

# The hot loops' machine code: the bounds check of the run-time-checked
# accessor must be hoisted out of the loop (constant offset) or be one
# compare per access (varying offset), and the alignment check must be gone.
asm="$out/asm.txt"
: >"$asm"
objdump -d --no-show-raw-insn "${bin[bar_access]}" >"$out/.disassembly"
for f in bench_c_read32_const bench_rust_read32_fixed bench_rust_read32_checked_const \
    bench_c_read32_var bench_rust_read32_checked_var bench_c_write32_var \
    bench_rust_write32_checked_var bench_rust_write32_checked_const; do
    echo "== $f" >>"$asm"
    awk -v f="<$f>:" '$2 == f { p = 1; next } p && /^$/ { exit } p' "$out/.disassembly" >>"$asm"
done
rm -f "$out/.disassembly"
{
    echo "== bench_c_lcore_id and bench_rust_lcore_id (no LTO: a call into the shim)"
    objdump -d --no-show-raw-insn "${bin[shim_call]}" >"$out/.disassembly"
    for f in bench_c_lcore_id bench_rust_lcore_id; do
        echo "== $f"
        awk -v f="<$f>:" '$2 == f { p = 1; next } p && /^$/ { exit } p' "$out/.disassembly"
    done
    rm -f "$out/.disassembly"
} >>"$asm"
note asm "see asm.txt (objdump of the benchmark kernels)"

if ((lto)); then
    echo "bench: cross-language LTO build of shim_call"
    gcc_ld="$(rustc --print sysroot)/lib/rustlib/x86_64-unknown-linux-gnu/bin/gcc-ld"
    lto_log="$out/lto-build.log"
    # -Ctarget-cpu=corei7: DPDK's cflags say -march=corei7, and LLVM inlines a
    # function only into callers with at least its target features.
    if lto_bins=$(
        export CARGO_TARGET_DIR="$target_dir-lto"
        export CC_x86_64_unknown_linux_gnu=clang CFLAGS_x86_64_unknown_linux_gnu=-flto=thin
        export RUSTFLAGS="-Clinker-plugin-lto -Ctarget-cpu=corei7 -Clink-arg=-fuse-ld=lld -Clink-arg=-B$gcc_ld"
        cargo bench -p dpdk-benches --bench shim_call --bench forwarding --no-run --target x86_64-unknown-linux-gnu >"$lto_log" 2>&1 &&
            bench_binaries --bench shim_call --bench forwarding --target x86_64-unknown-linux-gnu
    ); then
        lto_bin=$(awk '$1 == "shim_call" { print $2 }' <<<"$lto_bins")
        "$lto_bin" --label "cross-language LTO" | tee -a "$raw" | grep -v '^RESULT'
        lto_fwd=$(awk '$1 == "forwarding" { print $2 }' <<<"$lto_bins")
        "$lto_fwd" --label "cross-language LTO" | tee -a "$raw" | grep -v '^RESULT'
        objdump -d --no-show-raw-insn "$lto_bin" >"$out/.disassembly"
        {
            echo "== bench_rust_lcore_id, cross-language LTO build"
            awk '$2 == "<bench_rust_lcore_id>:" { p = 1; next } p && /^$/ { exit } p' "$out/.disassembly"
        } >>"$asm"
        rm -f "$out/.disassembly"
        if awk '/^== bench_rust_lcore_id, cross/ { p = 1 } p' "$asm" | grep -q 'call.*rte_lcore_id__extern'; then
            note lto "built (clang $(clang --version | sed -n 's/.*version \([0-9.]*\).*/\1/p;q') bitcode, rust-lld); the shim call is NOT inlined, see asm"
        else
            note lto "built (clang $(clang --version | sed -n 's/.*version \([0-9.]*\).*/\1/p;q') -flto=thin bitcode linked by rust-lld with -Clinker-plugin-lto -Ctarget-cpu=corei7); rte_lcore_id__extern is inlined into the Rust loop"
        fi
    else
        note lto "build failed: $(grep -m3 -e 'error' "$lto_log" | tr '\n\t' '  ') (full log: lto-build.log)"
    fi
fi

if ((build_times)); then
    echo "bench: build times (clean target directory $target_dir-clean)"
    clean="$target_dir-clean"
    rm -rf "$clean"
    secs() { local s e; s=$(date +%s.%N); "$@" >/dev/null 2>&1; e=$(date +%s.%N); awk -v s="$s" -v e="$e" 'BEGIN { printf "%.2f", e - s }'; }
    t=$(CARGO_TARGET_DIR=$clean secs cargo build)
    printf 'RESULT\tbuild\tclean cargo build (root crate dpdk, what users build)\ts\t%s\n' "$t" | tee -a "$raw"
    t=$(CARGO_TARGET_DIR=$clean secs cargo build --workspace --all-targets)
    printf 'RESULT\tbuild\tthen cargo build --workspace --all-targets (adds tests, examples, benches, plotters)\ts\t%s\n' "$t" | tee -a "$raw"
    # Built once more untimed (anything edited meanwhile), then the no-op.
    CARGO_TARGET_DIR=$clean cargo build --workspace --quiet
    t=$(CARGO_TARGET_DIR=$clean secs cargo build --workspace)
    printf 'RESULT\tbuild\tno-op rebuild (cargo build --workspace)\ts\t%s\n' "$t" | tee -a "$raw"
    rm -rf "$clean"
fi

if ((vm)); then
    echo "bench: VM (ivshmem BAR2)"
    "$here/vm-bench.sh" --raw | tee -a "$raw" | grep -v '^RESULT' || echo "bench: VM part failed"
fi

# The README's figures block is written from this run's raw figures only, so
# it never mixes runs; it names the run (the NOTE lines above).
report_args=("$raw" "$out")
((readme)) && report_args+=(--readme benches/README.md)
"$target_dir/release/bench-report" "${report_args[@]}"
echo "bench: wrote $out/results.md, $out/per_access.png, $out/enumeration.png$( ((readme)) && echo ", benches/README.md's figures block")"
