#!/usr/bin/env bash
# Packets through DPDK's own e1000e driver: boots the test VM with two more
# QEMU e1000e (0000:00:08.0 and 0000:00:09.0) joined by a QEMU hub that has no
# other port (nothing reaches the host's network), both bound to vfio-pci, and
# runs there:
#   - safe/tests/vm_packets.rs as x86_64 (Debian 12's DPDK 22.11) and as i686
#     (Debian 12's i386 DPDK, inside its tree; rte_mbuf's 32-bit layout): frames
#     sent on one port arrive on the other, checked byte for byte, both ways;
#   - examples/l2fwd.rs over the two ports for 3 s, seeded with 16 frames a
#     port: the hub carries each forwarded frame back to the other port, so
#     the seed circulates; the worker's counters must agree with the driver's.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/.."
: "${DPDK_RS_CACHE:=/var/cache/dpdk-rs}"
tree="$DPDK_RS_CACHE/bookworm-i386"
work=$(mktemp -d /tmp/dpdk-rs-packets.XXXXXX)
trap 'rm -rf "$work"' EXIT

xtask="$here/xtask" # kept: i686/env.sh sets $here
"$xtask" help >/dev/null
# The test binary of one build: cargo's JSON, read by xtask.
test_binary() { # test_binary LABEL CARGO-ARGS...
    local label=$1
    shift
    cargo test -p dpdk-safe --test vm_packets --no-run --message-format=json "$@" \
        >"$work/build-$label.json" 2>"$work/build-$label.err" ||
        { tail -30 "$work/build-$label.err"; echo "vm-packets: building the $label test failed"; exit 1; }
    "$xtask" executables --json "$work/build-$label.json" --tests-only | head -1
}
x86=$(test_binary x86_64)
i686=$(source "$here/i686/env.sh" && test_binary i686 --target i686-unknown-linux-gnu)
[[ -x $x86 && -x $i686 ]] || { echo "vm-packets: test binaries not found ('$x86', '$i686')"; exit 1; }
cargo build --quiet --example l2fwd
l2fwd="$PWD/target/debug/examples/l2fwd"
test=frames_cross_a_hub_between_two_e1000e_both_ways

cat >"$work/guest.sh" <<GUEST
set -e
for nic in 0000:00:08.0 0000:00:09.0; do
    [ "\$(basename "\$(readlink /sys/bus/pci/devices/\$nic/driver)")" = vfio-pci ] ||
        { echo "packets: \$nic is not bound to vfio-pci"; exit 1; }
done
echo "== packets x86_64"
'$x86' --ignored --exact $test --nocapture
cp '$i686' '$tree/tmp/vm_packets'
echo "== packets i686"
env TMPDIR=/tmp chroot '$tree' /tmp/vm_packets --ignored --exact $test --nocapture
echo "== l2fwd over the hub"
'$l2fwd' --seconds 3 --seed 16 -- -l 0,1 --no-huge -m 128 --no-shconf \
    -a 0000:00:08.0 -a 0000:00:09.0 >\$TMPDIR/l2fwd.out 2>&1 ||
    { cat \$TMPDIR/l2fwd.out; echo "packets: l2fwd failed"; exit 1; }
cat \$TMPDIR/l2fwd.out
echo "packets: ok"
GUEST
set +e
"$here/vm/run.sh" --timeout 900 --root "$tree" \
    --netdev hubport,id=hp0,hubid=0 --device e1000e,netdev=hp0,addr=08.0 \
    --netdev hubport,id=hp1,hubid=0 --device e1000e,netdev=hp1,addr=09.0 -- \
    "sh $work/guest.sh" | tee "$work/out.log" | grep -v '^\['
status=${PIPESTATUS[0]}
set -e
[ "$status" = 0 ] || { echo "vm-packets: the guest failed (status $status)"; exit 1; }
grep -q "^packets: ok" "$work/out.log" || { echo "vm-packets: the runs did not finish"; exit 1; }
for label in x86_64 i686; do
    n=$(awk -v l="== packets $label" '$0 == l { on = 1; next } /^== / { on = 0 } on && /^test result: ok\. 1 passed/' "$work/out.log" | wc -l)
    [ "$n" -ge 1 ] || { echo "vm-packets: the $label test did not pass"; exit 1; }
done
# l2fwd: both ports forwarded, and its counters agree with the driver's: the
# same frames sent; received, the driver's count may be ahead by what was still
# in the RX ring when the worker stopped, at most the 32 frames circulating.
totals=$(grep "^total port " "$work/out.log") || { echo "vm-packets: l2fwd printed no totals"; exit 1; }
while read -r _ _ id _ rx _ tx _ dropped _ _ drx _ dtx; do
    dtx=${dtx%)}
    ((tx == dtx && drx >= rx && drx - rx <= 32)) ||
        { echo "vm-packets: l2fwd port $id counted rx $rx tx $tx, the driver rx $drx tx $dtx"; exit 1; }
    ((rx > 1000)) || { echo "vm-packets: l2fwd port $id forwarded only $rx frames"; exit 1; }
done <<<"$totals"
echo "vm-packets: l2fwd: $(grep '^total: ' "$work/out.log")"
echo "vm-packets: passed"
