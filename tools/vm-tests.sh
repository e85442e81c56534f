#!/usr/bin/env bash
# VM tests: builds the VFIO test binaries for x86_64 and i686 against Debian 12's
# DPDK 22.11 and for x86_64 against Debian 13's DPDK 24.11 (inside the Debian 13
# tree), boots the VM with QEMU's edu, ivshmem and e1000e bound to vfio-pci, runs
# all three builds there (the i686 one inside Debian 12's i386 tree, the 24.11
# one inside the Debian 13 tree), and checks on the host that each build's write
# through ivshmem BAR2 reached the backing file.
#
#   tools/vm-tests.sh [--check-log LOG]
#
# VM_SECTIONS=REGEX runs only the sections whose label matches (and no
# examples): for working on one part; the test command runs them all.
#
# The guest's console log is kept as $DPDK_RS_CACHE/vm/last-out.log;
# --check-log LOG only builds and checks LOG as the guest's log (no VM; the
# ivshmem file is not checked).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/.."
: "${DPDK_RS_CACHE:=/var/cache/dpdk-rs}"
xtask="$here/xtask" # tools/xtask help
check_log=""
while (($#)); do
    case "$1" in
        --check-log) check_log=$(realpath "$2"); shift 2 ;;
        *) sed -n 's/^#   //p' "$0" >&2; exit 2 ;;
    esac
done

# The test sections, in the order the guest runs them, one a line:
#   label | build | test target | environment of the run
# build: x86_64 (Debian 12, run in the host's root; its test count is compared
# with the host's listing), i686 (Debian 12's i386 tree), debian13 (DPDK 24.11,
# the Debian 13 tree), testing (DPDK 25.11, the Debian testing tree). DPDK_RS_GUEST_MARKER(_AT): the test writes the marker at
# that offset of ivshmem BAR2, and the host checks its backing file for it.
sections=(
    "x86_64           | x86_64   | vm_devices | DPDK_RS_GUEST_MARKER=x86_64-was-here DPDK_RS_GUEST_MARKER_AT=4096"
    "x86_64 drivers   | x86_64   | vm_drivers |"
    "x86_64 dma       | x86_64   | vm_dma     | RUST_TEST_NOCAPTURE=1"
    # devbind moves edu off vfio-pci and back; DPDK's log of a PCI driver
    # reaches the log crate. x86_64 only: the sysfs writes and log records are
    # the same from every build.
    "x86_64 tooling   | x86_64   | vm_tooling |"
    "i686             | i686     | vm_devices | DPDK_RS_GUEST_MARKER=i686-was-here DPDK_RS_GUEST_MARKER_AT=8192"
    "i686 drivers     | i686     | vm_drivers |"
    "i686 dma         | i686     | vm_dma     | RUST_TEST_NOCAPTURE=1"
    "debian13         | debian13 | vm_devices | DPDK_RS_GUEST_MARKER=dpdk-24.11-was-here DPDK_RS_GUEST_MARKER_AT=12288"
    "debian13 drivers | debian13 | vm_drivers |"
    "debian13 dma     | debian13 | vm_dma     | RUST_TEST_NOCAPTURE=1"
    "testing          | testing  | vm_devices | DPDK_RS_GUEST_MARKER=dpdk-25.11-was-here DPDK_RS_GUEST_MARKER_AT=16384"
    "testing drivers  | testing  | vm_drivers |"
    "testing dma      | testing  | vm_dma     | RUST_TEST_NOCAPTURE=1"
    # The crate's own VFIO container (VfioBackend::Crate, no rte_vfio_* call):
    # the same BAR, interrupt and DMA tests on every line.
    "x86_64 crate-vfio       | x86_64   | vm_devices | DPDK_RS_VFIO_BACKEND=crate DPDK_RS_GUEST_MARKER=x86_64-crate-vfio DPDK_RS_GUEST_MARKER_AT=20480"
    "x86_64 crate-vfio dma   | x86_64   | vm_dma     | DPDK_RS_VFIO_BACKEND=crate RUST_TEST_NOCAPTURE=1"
    "i686 crate-vfio         | i686     | vm_devices | DPDK_RS_VFIO_BACKEND=crate DPDK_RS_GUEST_MARKER=i686-crate-vfio DPDK_RS_GUEST_MARKER_AT=24576"
    "i686 crate-vfio dma     | i686     | vm_dma     | DPDK_RS_VFIO_BACKEND=crate RUST_TEST_NOCAPTURE=1"
    "debian13 crate-vfio     | debian13 | vm_devices | DPDK_RS_VFIO_BACKEND=crate DPDK_RS_GUEST_MARKER=dpdk-24.11-crate-vfio DPDK_RS_GUEST_MARKER_AT=28672"
    "debian13 crate-vfio dma | debian13 | vm_dma     | DPDK_RS_VFIO_BACKEND=crate RUST_TEST_NOCAPTURE=1"
    "testing crate-vfio      | testing  | vm_devices | DPDK_RS_VFIO_BACKEND=crate DPDK_RS_GUEST_MARKER=dpdk-25.11-crate-vfio DPDK_RS_GUEST_MARKER_AT=32768"
    "testing crate-vfio dma  | testing  | vm_dma     | DPDK_RS_VFIO_BACKEND=crate RUST_TEST_NOCAPTURE=1"
)
if [[ -n ${VM_SECTIONS:-} ]]; then
    kept=()
    for entry in "${sections[@]}"; do
        label=${entry%%|*}
        [[ $label =~ $VM_SECTIONS ]] && kept+=("$entry")
    done
    sections=("${kept[@]}")
    ((${#sections[@]})) || { echo "vm-tests: no section matches VM_SECTIONS=$VM_SECTIONS"; exit 2; }
fi
# The examples (x86_64, host's root), run after the sections, one a line:
#   ok or fails | command (example and arguments) | lines it must print...
# A line is matched exactly; ~TEXT: a line containing TEXT. No line may say WRONG.
edu_lines=""
for path in pread64 mmap64; do
    edu_lines+="|$path: liveness check: alive|$path: 0! = 1|$path: 5! = 120|$path: 10! = 3628800|$path: 12! = 479001600"
done
edu_lines+="|interrupts: MSI, 1 vector of 1|irq: 12! = 479001600|dma: 4000 bytes to edu and back: identical"
examples=(
    "ok    | bar read 0000:00:03.0 0 0                 | 0000:00:03.0 BAR0 +0x0: read 0x010000ed"
    "ok    | bar write 0000:00:03.0 0 4 0x0f0f0f0f     | 0000:00:03.0 BAR0 +0x4: wrote 0x0f0f0f0f"
    "ok    | bar read 0000:00:03.0 0 4 --mmap          | 0000:00:03.0 BAR0 +0x4: read 0xf0f0f0f0"
    "ok    | bar read 0000:00:03.0 config 0 --width 16 | 0000:00:03.0 config space +0x0: read 0x1234"
    "fails | bar read 0000:00:03.0 7 0                 | ~BAR 7 does not exist"
    "ok    | edu $edu_lines"
    "ok    | devbind --status                      | ~0000:00:03.0 1234:11e8 class 00ff00 iommu_group= | ~drv=vfio-pci"
    "fails | devbind --bind vfio-pci 0000:00:1e.0  | devbind: 0000:00:1e.0: no such PCI device"
)
[[ -z ${VM_SECTIONS:-} ]] || examples=()

trim() { local s=$1; s=${s#"${s%%[![:space:]]*}"}; printf '%s' "${s%"${s##*[![:space:]]}"}"; }
# Splits a table line into the array `fields`, each trimmed.
split() {
    local IFS='|' f
    read -r -a fields <<<"$1"
    for f in "${!fields[@]}"; do fields[f]=$(trim "${fields[f]}"); done
}
# Test targets by build, examples by name: each once.
declare -A targets=() example_names=()
for entry in "${sections[@]}"; do
    split "$entry"
    targets[${fields[1]}]+=" ${fields[2]}"
done
for entry in "${examples[@]}"; do
    split "$entry"
    read -r name _ <<<"${fields[1]}"
    example_names[$name]=1
done
uniq_words() { tr ' ' '\n' <<<"$1" | sed '/^$/d' | sort -u; }

# Builds the test targets of build $1 with command "${@:2}" (cargo ...) and
# sets bin[BUILD/TARGET] to their paths (cargo's JSON messages, read by xtask).
declare -A bin=()
build() {
    local build=$1 names=() args=() paths=() i
    shift
    mapfile -t names < <(uniq_words "${targets[$build]:-}")
    ((${#names[@]})) || return 0
    for i in "${names[@]}"; do args+=(--test "$i"); done
    local name_args=()
    for i in "${names[@]}"; do name_args+=(--name "$i"); done
    mapfile -t paths < <("$xtask" executables "${name_args[@]}" -- "$@" test -p dpdk-safe "${args[@]}" --no-run ||
        echo FAILED)
    [[ ${paths[-1]:-FAILED} != FAILED && ${#paths[@]} == "${#names[@]}" ]] ||
        { echo "vm-tests: building the $build test binaries failed"; exit 1; }
    for i in "${!names[@]}"; do
        [ -x "${paths[i]}" ] || { echo "vm-tests: $build test binary ${names[i]} not found"; exit 1; }
        bin[$build/${names[i]}]=${paths[i]}
    done
}
tree="$DPDK_RS_CACHE/bookworm-i386"
trixie="$DPDK_RS_CACHE/trixie-amd64"
forky="$DPDK_RS_CACHE/forky-amd64"
build x86_64 cargo
# The i686 paths come back through a file: the build runs in a subshell (env.sh).
(
    source "$here/i686/env.sh"
    build i686 env CARGO_BUILD_TARGET=i686-unknown-linux-gnu cargo
    for k in "${!bin[@]}"; do printf '%s %s\n' "$k" "${bin[$k]}"; done
) >"${TMPDIR:-/tmp}/vm-tests-i686.$$" || { cat "${TMPDIR:-/tmp}/vm-tests-i686.$$"; exit 1; }
while read -r k v; do bin[$k]=$v; done <"${TMPDIR:-/tmp}/vm-tests-i686.$$"
rm -f "${TMPDIR:-/tmp}/vm-tests-i686.$$"
# Debian 13: cargo inside the tree (tools/tree/run), its own target directory.
build debian13 env CARGO_TARGET_DIR="$PWD/target/trixie-amd64" "$here/tree/run" "$trixie" cargo
# Debian testing (DPDK 25.11), the same way.
build testing env CARGO_TARGET_DIR="$PWD/target/forky-amd64" "$here/tree/run" "$forky" cargo
declare -A example_bin=()
if ((${#examples[@]})); then
    mapfile -t names < <(printf '%s\n' "${!example_names[@]}" | sort)
    name_args=()
    for n in "${names[@]}"; do name_args+=(--name "$n"); done
    mapfile -t paths < <("$xtask" executables "${name_args[@]}" -- cargo build "${name_args[@]/--name/--example}" || echo FAILED)
    [[ ${paths[-1]:-FAILED} != FAILED && ${#paths[@]} == "${#names[@]}" ]] || { echo "vm-tests: building the examples failed"; exit 1; }
    for i in "${!names[@]}"; do example_bin[${names[i]}]=${paths[i]}; done
fi

# The host's checks of the guest log (tools/xtask help): each
# section listed N > 0 tests (x86_64 builds: as many as on the host) and passed
# exactly N, no test FAILED; each example had its outcome and printed its lines.
check_args=()
for entry in "${sections[@]}"; do
    split "$entry"
    if [[ ${fields[1]} == x86_64 ]]; then
        check_args+=(--section "${fields[0]}=${bin[x86_64/${fields[2]}]}")
    else
        check_args+=(--section "${fields[0]}")
    fi
done
for entry in "${examples[@]}"; do check_args+=(--example "$entry"); done
if [[ -n $check_log ]]; then
    "$xtask" vm-log "$check_log" "${check_args[@]}" || { echo "vm-tests: FAILED: $check_log"; exit 1; }
    echo "vm-tests: $check_log passes the checks"
    exit 0
fi

# On the host's /tmp, which the guest sees: the guest runs its own copy of the
# script (other worktrees' runs rewrite $DPDK_RS_CACHE/vm/last-guest.sh).
work=$(mktemp -d /tmp/dpdk-rs-vm-tests.XXXXXX)
trap 'rm -rf "$work"' EXIT
ivshmem="$work/ivshmem"
truncate -s 1M "$ivshmem"
pattern="dpdk-rs host pattern $(date +%s%N)"
printf '%s' "$pattern" | dd of="$ivshmem" conv=notrunc status=none

# Inside the guest (dash: no pipefail, so no pipelines decide anything): each
# test section first prints how many tests its binary lists, then runs them
# (set -e: a failing test stops the guest). Each example runs between markers
# that give its outcome; the host checks what it printed. The x86_64 build runs
# in the host's root, the i686 build in the i386 tree, the 24.11 build in the
# Debian 13 tree (copies on each tree's tmpfs).
# The xtask binary tools/xtask built above; the guest sees the host's root.
xtask_bin=$(cd "$here/.." && pwd)/target/xtask/debug/xtask
[[ -x $xtask_bin ]] || { echo "vm-tests: no xtask binary at $xtask_bin"; exit 1; }
cat >"$work/guest.sh" <<GUEST
set -e
export DPDK_RS_IVSHMEM_PATTERN='$pattern'
out=\$TMPDIR/example.out
section() { # section LABEL BINARY_COMMAND...: announce, count, run
    label=\$1
    shift
    n=\$('$xtask_bin' count-tests --ignored "\$@" || true)
    echo "== \$label (\$n tests)"
    "\$@" --ignored --test-threads=1 --color never
}
example() { # example LABEL COMMAND...: runs it, prints its output and outcome
    label=\$1
    shift
    echo "== example: \$label"
    if "\$@" >"\$out" 2>&1; then got=ok; else got=fails; fi
    cat "\$out"
    [ -z "\$(tail -c1 "\$out")" ] || echo
    echo "== example end: \$got"
}
GUEST
for entry in "${sections[@]}"; do
    split "$entry"
    label=${fields[0]} build=${fields[1]} target=${fields[2]} env=${fields[3]:-}
    path=${bin[$build/$target]}
    case $build in
        x86_64) printf "section '%s' env %s '%s'\n" "$label" "$env" "$path" ;;
        i686 | debian13 | testing)
            root=$tree
            [[ $build == debian13 ]] && root=$trixie
            [[ $build == testing ]] && root=$forky
            printf "cp '%s' '%s/tmp/%s'\n" "$path" "$root" "$target"
            printf "section '%s' env %s TMPDIR=/tmp chroot '%s' /tmp/%s\n" "$label" "$env" "$root" "$target" ;;
    esac
done >>"$work/guest.sh"
for entry in "${examples[@]}"; do
    split "$entry"
    read -r name args <<<"${fields[1]}"
    printf "example '%s' '%s' %s\n" "${fields[1]}" "${example_bin[$name]}" "$args"
done >>"$work/guest.sh"
cp "$work/guest.sh" "$DPDK_RS_CACHE/vm/last-guest.sh"
set +e
"$here/vm/run.sh" --timeout 3000 --ivshmem-file "$ivshmem" --root "$tree" --root "$trixie" --root "$forky" -- \
    "sh $work/guest.sh" | tee "$work/out.log" | grep -v '^\['
status=${PIPESTATUS[0]}
set -e
cp "$work/out.log" "$DPDK_RS_CACHE/vm/last-out.log"
[ "$status" = 0 ] || { echo "vm-tests: the guest failed (status $status)"; exit 1; }
"$xtask" vm-log "$work/out.log" "${check_args[@]}" || { echo "vm-tests: FAILED: the guest log"; exit 1; }
# The markers the sections' tests wrote through BAR2, in the backing file.
for entry in "${sections[@]}"; do
    split "$entry"
    want="" at=""
    for kv in ${fields[3]:-}; do
        case $kv in
            DPDK_RS_GUEST_MARKER=*) want=${kv#*=} ;;
            DPDK_RS_GUEST_MARKER_AT=*) at=${kv#*=} ;;
        esac
    done
    [[ -n $want ]] || continue
    got=$(dd if="$ivshmem" bs=1 skip="$at" count="${#want}" status=none)
    [ "$got" = "$want" ] || { echo "vm-tests: host file at $at holds '$got', not '$want'"; exit 1; }
    echo "vm-tests: host file at $at holds '$got' (written by the guest through BAR2)"
done
echo "vm-tests: passed"
