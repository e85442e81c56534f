#!/usr/bin/env bash
# Per-access cost of the mapped and the pread paths on real VFIO regions: runs
# benches/bar_access.rs in the VM, built for x86_64 and for i686.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/.."
"$here/setup.sh"
: "${DPDK_RS_CACHE:=/var/cache/dpdk-rs}"
tree="$DPDK_RS_CACHE/bookworm-i386"
bench_binary() {
    cargo bench "$@" --bench bar_access --no-run --message-format=json 2>/dev/null |
        grep '"executable":"[^"]' | sed 's/.*"executable":"\([^"]*\)".*/\1/' | tail -1
}
x86=$(bench_binary)
i686=$(source "$here/i686/env.sh"; bench_binary --target i686-unknown-linux-gnu)
guest="$DPDK_RS_CACHE/vm/bench-guest.sh"
cat >"$guest" <<GUEST
set -e
echo "######## x86_64"
'$x86' --vm
echo "######## i686"
cp '$i686' '$tree/tmp/bar_access'
TMPDIR=/tmp chroot '$tree' /tmp/bar_access --vm
GUEST
"$here/vm/run.sh" --timeout 900 --i386-root "$tree" -- "sh $guest" |
    grep -e '^|' -e '^VM' -e '^#' -e '^vm:' -e 'panicked'
