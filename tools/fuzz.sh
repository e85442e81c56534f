#!/usr/bin/env bash
# Fuzzes every parser of outside input (libFuzzer through cargo-fuzz) for a
# bounded time each, starting from the seeds in safe/fuzz/seeds.
#
# The targets are listed once, in `targets` below. Each one needs its source
# (safe/fuzz/fuzz_targets/NAME.rs), its [[bin]] in safe/fuzz/Cargo.toml and at
# least one seed in safe/fuzz/seeds/NAME/. Before anything is fuzzed the list
# is checked against the manifest's [[bin]]s (a target declared but not
# fuzzed, or listed but not declared, fails) and every seed folder must exist
# and hold a file. A target's run fails unless libFuzzer loaded its seeds and
# reports a number of executed inputs above 0.
#
# FUZZ_SECONDS (default 30) per target, FUZZ_JOBS (default: the cores) at once.
# What libFuzzer adds to a target's corpus is kept in FUZZ_CORPUS (default
# /var/cache/dpdk-rs/fuzz-corpus/NAME) and fed back with the seeds next time,
# so successive runs go deeper instead of starting over (a cache past 4096
# files is emptied first and refilled with this run's corpus).
# cargo-fuzz needs nightly-only flags (sanitizers); RUSTC_BOOTSTRAP=1 lets the
# installed stable toolchain take them.
set -euo pipefail
cd "$(dirname "$0")/../safe"
seconds=${FUZZ_SECONDS:-30}
corpus_cache=${FUZZ_CORPUS:-${DPDK_RS_CACHE:-/var/cache/dpdk-rs}/fuzz-corpus}

# The fuzz targets, one a line: name, then what it parses.
targets=(
    "pci_address     PCI address strings"
    "sysfs_resource  sysfs \`resource\` files"
    "region_caps     VFIO region info and its capability chain"
    "eal_args        EAL argument building"
    "msix_caps       the MSI-X capability walk in config space"
)

fail() {
    echo "fuzz: FAILED: $*" >&2
    exit 1
}

names=()
for t in "${targets[@]}"; do names+=("${t%% *}"); done

# The [[bin]] names of the fuzz crate's manifest (cargo metadata, through xtask).
declared=$(../tools/xtask bins fuzz/Cargo.toml | sort)
listed=$(printf '%s\n' "${names[@]}" | sort)
not_fuzzed=$(comm -23 <(echo "$declared") <(echo "$listed"))
not_declared=$(comm -13 <(echo "$declared") <(echo "$listed"))
[[ -z $not_fuzzed ]] ||
    fail "declared in safe/fuzz/Cargo.toml but not in tools/fuzz.sh's targets: ${not_fuzzed//$'\n'/ }"
[[ -z $not_declared ]] ||
    fail "in tools/fuzz.sh's targets but no [[bin]] of safe/fuzz/Cargo.toml: ${not_declared//$'\n'/ }"
for target in "${names[@]}"; do
    [[ -d fuzz/seeds/$target ]] || fail "$target: no seed folder safe/fuzz/seeds/$target"
    [[ -n $(find "fuzz/seeds/$target" -maxdepth 1 -type f -print -quit) ]] ||
        fail "$target: the seed folder safe/fuzz/seeds/$target holds no file"
done

command -v cargo-fuzz >/dev/null || cargo install --quiet --locked cargo-fuzz
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# One build for every target, then the targets FUZZ_JOBS (default: one per
# core) at a time, each on its own core, for the same time each as alone.
RUSTC_BOOTSTRAP=1 cargo fuzz build --fuzz-dir fuzz >"$work/build.log" 2>&1 ||
    { tail -40 "$work/build.log"; fail "building the fuzz targets failed"; }
fuzz_one() {
    local target=$1 seeds loaded runs kept=0 cache="$corpus_cache/$1"
    mkdir -p "$work/$target" "$cache"
    if [[ -n $(find "$cache" -maxdepth 1 -type f -print -quit) ]]; then
        cp "$cache"/* "$work/$target/"
        kept=$(find "$cache" -maxdepth 1 -type f | wc -l)
    fi
    cp fuzz/seeds/"$target"/* "$work/$target/"
    seeds=$(find "$work/$target" -maxdepth 1 -type f | wc -l)
    RUSTC_BOOTSTRAP=1 cargo fuzz run --fuzz-dir fuzz "$target" "$work/$target" -- \
        -max_total_time="$seconds" -print_final_stats=1 >"$work/$target.log" 2>&1 ||
        { tail -40 "$work/$target.log"; fail "$target found a crash"; }
    loaded=$(sed -n 's/^INFO: seed corpus: files: \([0-9]*\) .*/\1/p' "$work/$target.log" | tail -1)
    runs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$work/$target.log" | tail -1)
    if [[ ${loaded:-0} -lt $seeds ]]; then
        tail -20 "$work/$target.log"
        fail "$target: libFuzzer loaded ${loaded:-no} seed file(s) of the $seeds given"
    fi
    if [[ ! ${runs:-} =~ ^[0-9]+$ || $runs -eq 0 ]]; then
        tail -20 "$work/$target.log"
        fail "$target: no executed inputs reported (stat::number_of_executed_units: ${runs:-missing})"
    fi
    # The corpus as it is now (seeds, what earlier runs kept, what this one found).
    if (($(find "$work/$target" -maxdepth 1 -type f | wc -l) > 4096)); then rm -f "$cache"/*; fi
    cp "$work/$target"/* "$cache/"
    echo "fuzz: $target: $runs runs in ${seconds}s from $seeds input(s) ($kept kept from earlier runs), no crash"
}
jobs=${FUZZ_JOBS:-$(nproc)}
for target in "${names[@]}"; do
    while (($(jobs -rp | wc -l) >= jobs)); do wait -n || true; done
    fuzz_one "$target" >"$work/$target.result" 2>&1 &
done
wait
failed=()
for target in "${names[@]}"; do
    cat "$work/$target.result"
    grep -q "^fuzz: $target: .* no crash\$" "$work/$target.result" || failed+=("$target")
done
((${#failed[@]} == 0)) || fail "${failed[*]}"
echo "fuzz: ${#names[@]} targets fuzzed, no crash"
