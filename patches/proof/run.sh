#!/usr/bin/env bash
# The series' proofs, on i386, in the test VM (tools/vm/), with output checked:
#
# 1. BARs: an ivshmem device whose BAR2 is 4 GiB (sparse file backend), first
#    on vfio-pci, then on uio_pci_generic (with hugepages: UIO needs physical
#    addresses). With Debian's unpatched i386 DPDK the device fails to map at
#    all, BAR0 included; with the patched build BAR0 maps, BAR2 is skipped
#    with a log line, and the driver probes the device.
# 2. config: a program built with plain `cc $(pkg-config --cflags --libs
#    libdpdk)` reads edu's config space through rte_pci_read_config(): right
#    with the patched libdpdk.pc, wrong or failing with the unpatched flags
#    (the same flags without -D_FILE_OFFSET_BITS=64).
# 3. interrupt handle fds: a driver without RTE_PCI_DRV_NEED_MAPPING calls
#    rte_pci_read_config() on edu with standard input redirected from a file of
#    markers, through VFIO and through UIO: Debian's DPDK reads the marker from
#    standard input, the patched one returns -1.
# 4. consumer types: the same program built with plain pkg-config flags
#    before and after the series, its off_t, ino_t and struct stat sizes
#    (no VM needed).
#
# The proof programs are pci_proof.c, a C driver registered on DPDK's PCI bus,
# and examples/driver.rs, a Rust driver of this project, built for i686.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tools="$here/../../tools"
: "${DPDK_RS_CACHE:=/var/cache/dpdk-rs}"
tree="$DPDK_RS_CACHE/bookworm-i386"
"$here/../build.sh" >/dev/null
src=$(ls -d "$DPDK_RS_CACHE"/src/dpdk-22.11* | head -1)

# Build the three variants inside the i386 tree, with its gcc and pkg-config.
dir=/opt/dpdk-rs-proof
rm -rf "$tree$dir" && mkdir -p "$tree$dir/sdk"
cp "$here/pci_proof.c" "$tree$dir/"
# Debian does not install the driver SDK headers: take them from its source package.
cp "$src/drivers/bus/pci/bus_pci_driver.h" "$src/lib/eal/include/dev_driver.h" "$tree$dir/sdk/"
chroot "$tree" sh -eu -c "
cd $dir
patched=/opt/dpdk-rs-patched/lib/i386-linux-gnu
cflags=\$(PKG_CONFIG_PATH=\$patched/pkgconfig pkg-config --cflags libdpdk)
libs=\$(PKG_CONFIG_PATH=\$patched/pkgconfig pkg-config --libs libdpdk)
gcc -O2 -DALLOW_INTERNAL_API \$cflags pci_proof.c -o pci_proof-patched \$libs -lrte_bus_pci -Wl,-rpath,\$patched
nolfs=\$(echo \$cflags | sed 's/-D_FILE_OFFSET_BITS=64//')
gcc -O2 -DALLOW_INTERNAL_API \$nolfs pci_proof.c -o pci_proof-unpatched-pc \$libs -lrte_bus_pci -Wl,-rpath,\$patched
gcc -O2 -DALLOW_INTERNAL_API \$(pkg-config --cflags libdpdk) -Isdk pci_proof.c -o pci_proof-debian \$(pkg-config --libs libdpdk) -lrte_bus_pci
# Debian's DPDK with the flag the patched libdpdk.pc adds: the interrupt handle
# proof (nomap) then differs from the patched build in the fd patch alone.
gcc -O2 -DALLOW_INTERNAL_API \$(pkg-config --cflags libdpdk) -D_FILE_OFFSET_BITS=64 -Isdk pci_proof.c \
    -o pci_proof-debian-lfs \$(pkg-config --libs libdpdk) -lrte_bus_pci
"

# What libdpdk.pc does to a consumer's own ABI: the same program built with plain
# `pkg-config --cflags libdpdk`, before the series (Debian's libdpdk.pc) and after.
echo "== consumer types"
for v in debian patched; do
    printf '%s: ' "$v"
    chroot "$tree" "$dir/pci_proof-$v" sizes
done | tee "$tree$dir/sizes.out"
grep -q "^debian: PROOF sizes off_t=4 ino_t=4 struct_stat=88$" "$tree$dir/sizes.out" ||
    { echo "proof: FAILED: Debian's libdpdk.pc did not give the 32-bit types"; exit 1; }
grep -q "^patched: PROOF sizes off_t=8 ino_t=8 struct_stat=96$" "$tree$dir/sizes.out" ||
    { echo "proof: FAILED: the patched libdpdk.pc did not give the 64-bit types"; exit 1; }

# The Rust driver example, for i686: against Debian's DPDK and against the patched one.
repo="$here/../.."
(
    cd "$repo"
    source tools/i686/env.sh
    cargo build --quiet --example driver --target i686-unknown-linux-gnu
    cp target/i686-unknown-linux-gnu/debug/examples/driver "$tree$dir/driver-debian"
    PKG_CONFIG_LIBDIR="$tree/opt/dpdk-rs-patched/lib/i386-linux-gnu/pkgconfig:$PKG_CONFIG_LIBDIR" \
        CARGO_TARGET_DIR="$repo/target/patched" \
        cargo build --quiet --example driver --target i686-unknown-linux-gnu
    cp target/patched/i686-unknown-linux-gnu/debug/examples/driver "$tree$dir/driver-patched"
)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
truncate -s 4G "$work/ivshmem-4g"
eal="-l 0 --no-huge -m 64 --no-shconf"
eal_uio="-l 0 -m 64 --no-shconf"
guest="$DPDK_RS_CACHE/vm/proof-guest.sh"
cat >"$guest" <<GUEST
cd $dir
for v in debian patched; do
    echo "== bars \$v"
    TMPDIR=/tmp chroot '$tree' $dir/pci_proof-\$v bars $eal -a 0000:00:04.0 2>&1 | grep -v '^EAL:   '
done
for v in patched unpatched-pc; do
    echo "== config \$v"
    TMPDIR=/tmp chroot '$tree' $dir/pci_proof-\$v config $eal -a 0000:00:03.0 2>&1 | grep -v '^EAL:   '
done
# Standard input is a sparse file with the marker "STDU" at offset 0 (where UIO's
# config space offset 0 would read it) and "STDV" at 7 << 40 (VFIO's config
# region), so each path's read shows which offset it took.
markers=/run/tmp/stdin-markers
rm -f \$markers
printf STDV | dd of=\$markers bs=1 seek=\$((7 << 40)) status=none
printf STDU | dd of=\$markers bs=1 conv=notrunc status=none
for v in debian-lfs patched; do
    echo "== nomap vfio \$v"
    TMPDIR=/tmp chroot '$tree' $dir/pci_proof-\$v nomap $eal -a 0000:00:03.0 <\$markers 2>&1 | grep -v '^EAL:   '
done
echo "== rust driver debian"
TMPDIR=/tmp chroot '$tree' $dir/driver-debian 1af4:1110 0000:00:04.0 2>&1 | grep -v '^EAL:   '
echo "== rust driver patched"
TMPDIR=/tmp LD_LIBRARY_PATH=/opt/dpdk-rs-patched/lib/i386-linux-gnu \
    chroot '$tree' $dir/driver-patched 1af4:1110 0000:00:04.0 2>&1 | grep -v '^EAL:   '
# The same devices on uio_pci_generic. UIO wants physical addresses: hugepages.
for d in 0000:00:03.0 0000:00:04.0; do
    echo uio_pci_generic >/sys/bus/pci/devices/\$d/driver_override
    echo \$d >/sys/bus/pci/devices/\$d/driver/unbind
    echo \$d >/sys/bus/pci/drivers_probe
    echo "vm: \$d on \$(basename \$(readlink /sys/bus/pci/devices/\$d/driver))"
done
echo 64 >/proc/sys/vm/nr_hugepages
mkdir -p '$tree'/dev/hugepages && mount -t hugetlbfs nodev '$tree'/dev/hugepages
for v in debian patched; do
    echo "== bars uio \$v"
    TMPDIR=/tmp chroot '$tree' $dir/pci_proof-\$v bars $eal_uio -a 0000:00:04.0 2>&1 | grep -v '^EAL:   '
done
for v in debian-lfs patched; do
    echo "== nomap uio \$v"
    TMPDIR=/tmp chroot '$tree' $dir/pci_proof-\$v nomap $eal_uio -a 0000:00:03.0 <\$markers 2>&1 | grep -v '^EAL:   '
done
echo "== done"
GUEST
"$tools/vm/run.sh" --timeout 1200 --ivshmem-file "$work/ivshmem-4g" --i386-root "$tree" -- "sh $guest" \
    | tr -d '\r' | sed -n '/^== bars debian/,/^== done/p' >"$work/out"
cat "$work/out"
section() { sed -n "/^== $1\$/,/^== /p" "$work/out"; }
fail() { echo "proof: FAILED: $*"; exit 1; }

section "bars debian" | grep -q "Failed to create inaccessible mapping for BAR2" || fail "unpatched DPDK did not fail on the 4 GiB BAR"
section "bars debian" | grep -q "probed=0" || fail "unpatched DPDK probed the device"
section "bars patched" | grep -q "BAR2 is 0x100000000 bytes, too large to map in this process; skipping it" || fail "no skip message"
section "bars patched" | grep -q "PROOF BAR0 addr=mapped" || fail "BAR0 not mapped with the patch"
section "bars patched" | grep -q "PROOF BAR2 addr=none" || fail "BAR2 not skipped"
section "bars patched" | grep -q "probed=1" || fail "patched DPDK did not probe"
section "config patched" | grep -q "sizeof(off_t)=8" || fail "patched libdpdk.pc gave no 64-bit off_t"
section "config patched" | grep -q "config\[0x00\]=0x11e81234 rc=4 config\[0x2c\]=0x11001af4 rc=4" || fail "patched read wrong config bytes"
section "config unpatched-pc" | grep -q "sizeof(off_t)=4" || fail "unpatched flags gave a 64-bit off_t"
section "config unpatched-pc" | grep "PROOF config" | grep -vq "config\[0x00\]=0x11e81234 rc=4 config\[0x2c\]=0x11001af4 rc=4" ||
    fail "unpatched flags read the right bytes"
section "rust driver debian" | grep -q "Bus (pci) probe failed" || fail "unpatched DPDK did not fail the Rust driver's device"
section "rust driver debian" | grep -q "^probe " && fail "unpatched DPDK probed the Rust driver"
section "rust driver patched" | grep -q "skipping it" || fail "no skip message under the Rust driver"
section "rust driver patched" | grep -q "BAR0: 0x100 bytes, mapped by DPDK" || fail "Rust driver: BAR0 not mapped"
section "rust driver patched" | grep -q "BAR2: 0x100000000 bytes, not mapped" || fail "Rust driver: BAR2 not reported skipped"
section "rust driver patched" | grep -q "1 device(s) probed by rs_example" || fail "Rust driver not probed"
section "rust driver patched" | grep -q "remove 0000:00:04.0" || fail "Rust driver's remove not called"
# The interrupt handle's fds (a driver without RTE_PCI_DRV_NEED_MAPPING).
section "nomap vfio debian-lfs" | grep -q "probed=1" || fail "nomap driver not probed (VFIO, unpatched)"
# "STDV" (0x56445453) is at VFIO's config offset in standard input, "STDU"
# (0x55445453) at UIO's.
section "nomap vfio debian-lfs" | grep -q "PROOF nomap config\[0x00\]=0x56445453 rc=4$" ||
    fail "unpatched DPDK did not read VFIO's marker from standard input"
section "nomap vfio patched" | grep -q "PROOF nomap config\[0x00\]=0x00000000 rc=-1$" || fail "patched DPDK: no clean error (VFIO)"
for d in 0000:00:03.0 0000:00:04.0; do
    grep -qx "vm: $d on uio_pci_generic" "$work/out" || fail "$d was not rebound to uio_pci_generic for the UIO proofs"
done
section "nomap uio debian-lfs" | grep -q "PROOF nomap config\[0x00\]=0x55445453 rc=4$" ||
    fail "unpatched DPDK did not read UIO's marker from standard input"
section "nomap uio patched" | grep -q "PROOF nomap config\[0x00\]=0x00000000 rc=-1$" || fail "patched DPDK: no clean error (UIO)"
# A 4 GiB BAR through UIO.
# Unpatched, the 4 GiB length reaches mmap() truncated to 0 (the third figure).
section "bars uio debian" | grep -q "cannot map resource(.*, 0x0, 0x0)" || fail "unpatched DPDK did not truncate BAR2's length (UIO)"
section "bars uio debian" | grep -q "probed=0" || fail "unpatched DPDK probed the device through UIO"
section "bars uio patched" | grep -q "BAR2 is 0x100000000 bytes, too large to map in this process; skipping it" || fail "no skip message (UIO)"
section "bars uio patched" | grep -q "PROOF BAR0 addr=mapped" || fail "BAR0 not mapped with the patch (UIO)"
section "bars uio patched" | grep -q "PROOF BAR2 addr=none" || fail "BAR2 not skipped (UIO)"
section "bars uio patched" | grep -q "probed=1" || fail "patched DPDK did not probe through UIO"
echo "proof: passed"
