#!/usr/bin/env bash
# Fuzzes every parser of outside input (libFuzzer through cargo-fuzz) for a
# bounded time each, starting from the seeds in safe/fuzz/seeds:
#   pci_address     PCI address strings
#   sysfs_resource  sysfs `resource` files
#   region_caps     VFIO region info and its capability chain
#   eal_args        EAL argument building
# FUZZ_SECONDS (default 60) per target. cargo-fuzz needs nightly-only flags
# (sanitizers); RUSTC_BOOTSTRAP=1 lets the installed stable toolchain take them.
set -euo pipefail
cd "$(dirname "$0")/../safe"
seconds=${FUZZ_SECONDS:-60}
command -v cargo-fuzz >/dev/null || cargo install --quiet --locked cargo-fuzz
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for target in pci_address sysfs_resource region_caps eal_args; do
    mkdir -p "$work/$target"
    cp fuzz/seeds/"$target"/* "$work/$target/" 2>/dev/null || true
    RUSTC_BOOTSTRAP=1 cargo fuzz run --fuzz-dir fuzz "$target" "$work/$target" -- \
        -max_total_time="$seconds" -print_final_stats=1 >"$work/$target.log" 2>&1 ||
        { tail -40 "$work/$target.log"; echo "fuzz: $target found a crash"; exit 1; }
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/$target.log")
    echo "fuzz: $target: $runs runs in ${seconds}s, no crash"
done
