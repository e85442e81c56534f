#!/usr/bin/env bash
# The mapped and pread paths on a real VFIO region: runs benches/bar_access.rs
# (crate dpdk-benches) with --vm in the QEMU VM over ivshmem's BAR2, built for
# x86_64 and for i686 (pread path only on 32-bit).
#
#   tools/vm-bench.sh [--raw]
#
# --raw (used by tools/bench.sh): x86_64 only, and the RESULT lines are kept
# for bench-report.
#
# On x86_64, bar_access --vm also counts the mapped kernels' instructions per
# access with valgrind's callgrind in the guest (the host's valgrind, over 9p;
# one run, ~2.5 min of the ~4.5 min); the whole run stays well inside
# run.sh's --timeout below.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/.."
raw=0
[[ "${1:-}" == --raw ]] && raw=1
"$here/setup.sh" >&2
: "${DPDK_RS_CACHE:=/var/cache/dpdk-rs}"
tree="$DPDK_RS_CACHE/bookworm-i386"
xtask="$here/xtask" # tools/xtask help
# The bar_access benchmark's executable, from cargo's JSON messages.
bench_binary() {
    "$xtask" executables --name bar_access -- cargo bench -p dpdk-benches "$@" --bench bar_access --no-run
}
x86=$(bench_binary)
guest="$DPDK_RS_CACHE/vm/bench-guest.sh"
if ((raw)); then
    printf 'set -e\n%q --vm\n' "$x86" >"$guest"
else
    i686=$(source "$here/i686/env.sh"; bench_binary --target i686-unknown-linux-gnu) ||
        { echo "vm-bench: building the i686 benchmark failed"; exit 1; }
    cat >"$guest" <<GUEST
set -e
echo "######## x86_64"
'$x86' --vm
echo "######## i686"
cp '$i686' '$tree/tmp/bar_access'
TMPDIR=/tmp chroot '$tree' /tmp/bar_access --vm
GUEST
fi
"$here/vm/run.sh" --timeout 900 --i386-root "$tree" -- "sh $guest" | tr -d '\r' |
    grep -e '^|' -e '^VM' -e '^#' -e '^vm:' -e '^RESULT' -e 'panicked'
