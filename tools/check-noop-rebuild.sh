#!/usr/bin/env bash
# A no-op `cargo build` must not run dpdk-sys's build script (bindgen) again,
# and must stay fast.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --workspace --quiet
start=$(date +%s.%N)
log=$(cargo build --workspace -v 2>&1)
end=$(date +%s.%N)
if grep -q "Running .*dpdk-sys.*build-script-main" <<<"$log"; then
    echo "FAIL: the build script ran again on a no-op build"; echo "$log"; exit 1
fi
grep -q "Fresh dpdk-sys" <<<"$log" || { echo "FAIL: dpdk-sys not fresh"; echo "$log"; exit 1; }
awk -v s="$start" -v e="$end" 'BEGIN { printf "no-op rebuild: %.2f s, dpdk-sys fresh\n", e - s }'
