#!/usr/bin/env bash
# VM tests: builds the VFIO test binaries for x86_64 and i686 against Debian 12's
# DPDK 22.11 and for x86_64 against Debian 13's DPDK 24.11 and Debian testing's
# 25.11 (inside their trees), boots the VM with QEMU's edu, ivshmem and e1000e
# bound to vfio-pci, runs all four builds there (the i686 one inside Debian 12's
# i386 tree, the 24.11 and 25.11 ones inside their trees), and checks on the
# host that each build's write through ivshmem BAR2 reached the backing file.
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

# Debian 13 (24.11) and Debian testing (25.11): cargo inside each tree
# (tools/tree/run), a target directory of its own per tree.
trixie="$DPDK_RS_CACHE/trixie-amd64"
forky="$DPDK_RS_CACHE/forky-amd64"
declare -A x24 x25
tree_cargo() { CARGO_TARGET_DIR="$PWD/target/$tree_name" "$here/tree/run" "$DPDK_RS_CACHE/$tree_name" cargo "$@"; }
for tree_name in trixie-amd64 forky-amd64; do
    tree_cargo test -p dpdk-safe --test vm_devices --test vm_drivers --no-run --quiet
    for t in "${tests[@]}"; do
        bin=$(CARGO=tree_cargo test_binary "$t" -p dpdk-safe)
        [ -x "$bin" ] || { echo "vm-tests: $tree_name test binary of $t not found"; exit 1; }
        if [ "$tree_name" = trixie-amd64 ]; then x24[$t]=$bin; else x25[$t]=$bin; fi
    done
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
ivshmem="$work/ivshmem"
truncate -s 1M "$ivshmem"
pattern="dpdk-rs host pattern $(date +%s%N)"
printf '%s' "$pattern" | dd of="$ivshmem" conv=notrunc status=none

# Inside the guest (dash: no pipefail, so no pipelines decide anything): each
# test section first prints how many tests its binary lists, then runs them;
# the host requires "N passed; 0 failed" for exactly that N. Each example's
# exit status counts, and every line it is expected to print is required.
# The x86_64 build runs in the host's root, the i686 build in the i386 tree,
# the 24.11 build in the Debian 13 tree (copies on each tree's tmpfs).
cat >"$work/guest.sh" <<GUEST
set -e
export DPDK_RS_IVSHMEM_PATTERN='$pattern'
out=\$TMPDIR/example.out
section() { # section LABEL BINARY_COMMAND...: announce, count, run
    label=\$1
    shift
    n=\$("\$@" --ignored --list --format terse | grep -c ': test\$' || true)
    echo "== \$label (\$n tests)"
    "\$@" --ignored --test-threads=1 --color never
}
example() { # example ok|fails COMMAND...: runs it, prints its output
    want=\$1
    shift
    if "\$@" >"\$out" 2>&1; then got=ok; else got=fails; fi
    cat "\$out"
    [ "\$got" = "\$want" ] || { echo "example: '\$*' \$got, expected: \$want"; exit 1; }
    if grep -q WRONG "\$out"; then echo "example: '\$*' printed WRONG"; exit 1; fi
}
has() { # has LINE: the last example printed exactly this line
    grep -qxF -- "\$1" "\$out" || { echo "example: no line '\$1'"; exit 1; }
}
section x86_64 env DPDK_RS_GUEST_MARKER=x86_64-was-here DPDK_RS_GUEST_MARKER_AT=4096 \
    '${x86[vm_devices]}'
section "x86_64 drivers" '${x86[vm_drivers]}'
echo "== examples"
example ok '$examples/bar' read 0000:00:03.0 0 0
has "0000:00:03.0 BAR0 +0x0: read 0x010000ed"
example ok '$examples/bar' write 0000:00:03.0 0 4 0x0f0f0f0f
has "0000:00:03.0 BAR0 +0x4: wrote 0x0f0f0f0f"
example ok '$examples/bar' read 0000:00:03.0 0 4 --mmap
has "0000:00:03.0 BAR0 +0x4: read 0xf0f0f0f0"
example ok '$examples/bar' read 0000:00:03.0 config 0 --width 16
has "0000:00:03.0 config space +0x0: read 0x1234"
example fails '$examples/bar' read 0000:00:03.0 7 0
grep -q 'BAR 7 does not exist' "\$out" || { echo "example: no 'BAR 7 does not exist'"; exit 1; }
example ok '$examples/edu'
for path in pread64 mmap64; do
    has "\$path: liveness check: alive"
    has "\$path: 0! = 1"
    has "\$path: 5! = 120"
    has "\$path: 10! = 3628800"
    has "\$path: 12! = 479001600"
done
echo "examples: ok"
cp '${i686[vm_devices]}' '$tree/tmp/vm_devices'
cp '${i686[vm_drivers]}' '$tree/tmp/vm_drivers'
section i686 env DPDK_RS_GUEST_MARKER=i686-was-here DPDK_RS_GUEST_MARKER_AT=8192 \
    TMPDIR=/tmp chroot '$tree' /tmp/vm_devices
section "i686 drivers" env TMPDIR=/tmp chroot '$tree' /tmp/vm_drivers
cp '${x24[vm_devices]}' '$trixie/tmp/vm_devices'
cp '${x24[vm_drivers]}' '$trixie/tmp/vm_drivers'
section debian13 env DPDK_RS_GUEST_MARKER=dpdk-24.11-was-here DPDK_RS_GUEST_MARKER_AT=12288 \
    TMPDIR=/tmp chroot '$trixie' /tmp/vm_devices
section "debian13 drivers" env TMPDIR=/tmp chroot '$trixie' /tmp/vm_drivers
cp '${x25[vm_devices]}' '$forky/tmp/vm_devices'
cp '${x25[vm_drivers]}' '$forky/tmp/vm_drivers'
section testing env DPDK_RS_GUEST_MARKER=dpdk-25.11-was-here DPDK_RS_GUEST_MARKER_AT=16384 \
    TMPDIR=/tmp chroot '$forky' /tmp/vm_devices
section "testing drivers" env TMPDIR=/tmp chroot '$forky' /tmp/vm_drivers
GUEST
cp "$work/guest.sh" "$DPDK_RS_CACHE/vm/last-guest.sh"
set +e
"$here/vm/run.sh" --timeout 1200 --ivshmem-file "$ivshmem" --root "$tree" --root "$trixie" --root "$forky" -- \
    "sh $DPDK_RS_CACHE/vm/last-guest.sh" | tee "$work/out.log" | grep -v '^\['
status=${PIPESTATUS[0]}
set -e
[ "$status" = 0 ] || { echo "vm-tests: the guest failed (status $status)"; exit 1; }
grep -q "^examples: ok" "$work/out.log" || { echo "vm-tests: the examples failed"; exit 1; }
# Each section: the count its binary listed, and exactly that many passed.
declare -A host_count=([x86_64]=$("${x86[vm_devices]}" --ignored --list --format terse | grep -c ': test$')
    ["x86_64 drivers"]=$("${x86[vm_drivers]}" --ignored --list --format terse | grep -c ': test$'))
for section in x86_64 "x86_64 drivers" i686 "i686 drivers" debian13 "debian13 drivers" testing "testing drivers"; do
    head=$(grep -m1 "^== $section ([0-9]* tests)\$" "$work/out.log") ||
        { echo "vm-tests: section '$section' did not start"; exit 1; }
    n=${head##*(}
    n=${n%% tests)}
    ((n > 0)) || { echo "vm-tests: section '$section' lists no test"; exit 1; }
    if [[ -n ${host_count[$section]:-} && ${host_count[$section]} != "$n" ]]; then
        echo "vm-tests: section '$section' listed $n tests in the guest, ${host_count[$section]} on the host"
        exit 1
    fi
    result=$(sed -n "/^== $section ([0-9]* tests)\$/,/^test result/p" "$work/out.log" | grep '^test result' || true)
    [[ $result == "test result: ok. $n passed; 0 failed;"* ]] ||
        { echo "vm-tests: section '$section': expected $n passed, got '${result:-no result}'"; exit 1; }
    echo "vm-tests: $section: $n of $n passed"
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
check 16384 dpdk-25.11-was-here
echo "vm-tests: passed"
