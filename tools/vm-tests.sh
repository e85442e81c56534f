#!/usr/bin/env bash
# VM tests: builds the VFIO test binaries for x86_64 and i686 against Debian 12's
# DPDK 22.11 and for x86_64 against Debian 13's DPDK 24.11 (inside the Debian 13
# tree), boots the VM with QEMU's edu, ivshmem and e1000e bound to vfio-pci, runs
# all three builds there (the i686 one inside Debian 12's i386 tree, the 24.11
# one inside the Debian 13 tree), and checks on the host that each build's write
# through ivshmem BAR2 reached the backing file.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/.."
: "${DPDK_RS_CACHE:=/var/cache/dpdk-rs}"

# Path of test binary $1, from cargo's JSON messages; $CARGO runs cargo.
CARGO=cargo
test_binary() {
    local name=$1
    shift
    $CARGO test "$@" --test "$name" --no-run --message-format=json 2>/dev/null |
        grep '"executable":"[^"]' | grep "\"name\":\"$name\"" |
        sed 's/.*"executable":"\([^"]*\)".*/\1/' | tail -1
}
tests=(vm_devices vm_drivers)
cargo test -p dpdk-safe --test vm_devices --test vm_drivers --no-run --quiet
cargo build --quiet --example bar --example edu
examples="$PWD/target/debug/examples"
declare -A x86 i686
for t in "${tests[@]}"; do
    x86[$t]=$(test_binary "$t" -p dpdk-safe)
    i686[$t]=$(
        source "$here/i686/env.sh"
        cargo test -p dpdk-safe --test "$t" --no-run --quiet --target i686-unknown-linux-gnu
        test_binary "$t" -p dpdk-safe --target i686-unknown-linux-gnu
    )
    [ -x "${x86[$t]}" ] && [ -x "${i686[$t]}" ] || { echo "vm-tests: test binaries of $t not found"; exit 1; }
done
tree="$DPDK_RS_CACHE/bookworm-i386"

# Debian 13: cargo inside the tree (tools/tree/run), its own target directory.
trixie="$DPDK_RS_CACHE/trixie-amd64"
declare -A x24
trixie_cargo() { CARGO_TARGET_DIR="$PWD/target/trixie-amd64" "$here/tree/run" "$trixie" cargo "$@"; }
trixie_cargo test -p dpdk-safe --test vm_devices --test vm_drivers --no-run --quiet
for t in "${tests[@]}"; do
    x24[$t]=$(CARGO=trixie_cargo test_binary "$t" -p dpdk-safe)
    [ -x "${x24[$t]}" ] || { echo "vm-tests: Debian 13 test binary of $t not found"; exit 1; }
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
ivshmem="$work/ivshmem"
truncate -s 1M "$ivshmem"
pattern="dpdk-rs host pattern $(date +%s%N)"
printf '%s' "$pattern" | dd of="$ivshmem" conv=notrunc status=none

# Inside the guest: the x86_64 build in the host's root, then the i686 build in
# the i386 tree (a copy on the tree's tmpfs, where the chroot can see it).
cat >"$work/guest.sh" <<GUEST
set -e
export DPDK_RS_IVSHMEM_PATTERN='$pattern'
echo "== x86_64"
DPDK_RS_GUEST_MARKER=x86_64-was-here DPDK_RS_GUEST_MARKER_AT=4096 \
    '${x86[vm_devices]}' --ignored --test-threads=1 --color never
echo "== x86_64 drivers"
'${x86[vm_drivers]}' --ignored --test-threads=1 --color never
echo "== examples"
'$examples/bar' read 0000:00:03.0 0 0 | grep 'read 0x010000ed\$'
'$examples/bar' write 0000:00:03.0 0 4 0x0f0f0f0f >/dev/null
'$examples/bar' read 0000:00:03.0 0 4 --mmap | grep 'read 0xf0f0f0f0\$'
'$examples/bar' read 0000:00:03.0 config 0 --width 16 | grep 'read 0x1234\$'
if '$examples/bar' read 0000:00:03.0 7 0 2>&1; then exit 1; fi | grep 'BAR 7 does not exist'
'$examples/edu' | grep '12! = 479001600'
echo "examples: ok"
echo "== i686"
cp '${i686[vm_devices]}' '$tree/tmp/vm_devices'
cp '${i686[vm_drivers]}' '$tree/tmp/vm_drivers'
DPDK_RS_GUEST_MARKER=i686-was-here DPDK_RS_GUEST_MARKER_AT=8192 \
    TMPDIR=/tmp chroot '$tree' /tmp/vm_devices --ignored --test-threads=1 --color never
echo "== i686 drivers"
TMPDIR=/tmp chroot '$tree' /tmp/vm_drivers --ignored --test-threads=1 --color never
echo "== debian13"
cp '${x24[vm_devices]}' '$trixie/tmp/vm_devices'
cp '${x24[vm_drivers]}' '$trixie/tmp/vm_drivers'
DPDK_RS_GUEST_MARKER=dpdk-24.11-was-here DPDK_RS_GUEST_MARKER_AT=12288 \
    TMPDIR=/tmp chroot '$trixie' /tmp/vm_devices --ignored --test-threads=1 --color never
echo "== debian13 drivers"
TMPDIR=/tmp chroot '$trixie' /tmp/vm_drivers --ignored --test-threads=1 --color never
GUEST
cp "$work/guest.sh" "$DPDK_RS_CACHE/vm/last-guest.sh"
set +e
"$here/vm/run.sh" --timeout 1200 --ivshmem-file "$ivshmem" --root "$tree" --root "$trixie" -- \
    "sh $DPDK_RS_CACHE/vm/last-guest.sh" | tee "$work/out.log" | grep -v '^\['
status=${PIPESTATUS[0]}
set -e
[ "$status" = 0 ] || { echo "vm-tests: the guest failed (status $status)"; exit 1; }
grep -q "^examples: ok" "$work/out.log" || { echo "vm-tests: the examples failed"; exit 1; }
for arch in x86_64 "x86_64 drivers" i686 "i686 drivers" debian13 "debian13 drivers"; do
    grep -q "test result: ok. [1-9][0-9]* passed; 0 failed" <(sed -n "/^== $arch\$/,/test result/p" "$work/out.log") ||
        { echo "vm-tests: no passing result for $arch"; exit 1; }
done
check() {
    local at=$1 want=$2 got
    got=$(dd if="$ivshmem" bs=1 skip="$at" count="${#want}" status=none)
    [ "$got" = "$want" ] || { echo "vm-tests: host file at $at holds '$got', not '$want'"; exit 1; }
    echo "vm-tests: host file at $at holds '$got' (written by the guest through BAR2)"
}
check 4096 x86_64-was-here
check 8192 i686-was-here
check 12288 dpdk-24.11-was-here
echo "vm-tests: passed"
