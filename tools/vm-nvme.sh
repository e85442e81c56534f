#!/usr/bin/env bash
# NVMe proof: boots the test VM with QEMU's NVMe controller (1b36:0010) on a raw
# image that this script writes with a known pattern, binds it to vfio-pci in
# the guest and runs examples/nvme.rs there: x86_64 (BAR0 mapped), then i686
# inside Debian 12's i386 tree (registers and doorbells through pwrite64). Each
# build first resets the controller through VFIO_DEVICE_RESET (QEMU's NVMe has
# a function-level reset; edu has none, see vm_dma.rs), then reads the pattern back and writes one block (LBA 100 and 101); after
# the VM stops, the host checks both blocks in the image file.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/.."
: "${DPDK_RS_CACHE:=/var/cache/dpdk-rs}"
tree="$DPDK_RS_CACHE/bookworm-i386"

cargo build --quiet --example nvme
x86="$PWD/target/debug/examples/nvme"
(source "$here/i686/env.sh" && cargo build --quiet --example nvme --target i686-unknown-linux-gnu)
i686="$PWD/target/i686-unknown-linux-gnu/debug/examples/nvme"

work=$(mktemp -d /tmp/dpdk-rs-nvme.XXXXXX)
trap 'rm -rf "$work"' EXIT
image="$work/nvme.img"
"$x86" make-image "$image" 64

# In the guest: bind the controller to vfio-pci (no nvme driver is loaded
# there), wait for its group node, run both builds, require their lines.
cat >"$work/guest.sh" <<GUEST
set -e
echo "1b36 0010" >/sys/bus/pci/drivers/vfio-pci/new_id
dev=/sys/bus/pci/devices/0000:00:06.0
n=0
while [ ! -e "\$dev/iommu_group" ] || [ ! -c "/dev/vfio/\$(basename "\$(readlink "\$dev/iommu_group")")" ]; do
    [ \$n -lt 50 ] || { echo "nvme: no VFIO group for 0000:00:06.0"; exit 1; }
    sleep 0.1
    n=\$((n + 1))
done
out=\$TMPDIR/nvme.out
run() { # run LABEL COMMAND...
    label=\$1
    shift
    echo "== nvme \$label"
    "\$@" >"\$out" 2>&1 || { cat "\$out"; echo "nvme \$label: failed"; exit 1; }
    cat "\$out"
    if grep -q WRONG "\$out"; then echo "nvme \$label: printed WRONG"; exit 1; fi
    for line in "reset: VFIO_DEVICE_RESET done" "controller disabled" "read LBAs 0..8: 8 of 8 match the pattern" "I/O queue pair 1: depth 16, completions on MSI-X vector 1" "controller shut down"; do
        grep -qxF "\$line" "\$out" || { echo "nvme \$label: no line '\$line'"; exit 1; }
    done
    grep -q "^model: QEMU NVMe Ctrl\$" "\$out" || { echo "nvme \$label: no model line"; exit 1; }
}
run x86_64 '$x86' 0000:00:06.0 --write-lba 100
cp '$i686' '$tree/tmp/nvme'
run i686 env TMPDIR=/tmp chroot '$tree' /tmp/nvme 0000:00:06.0 --write-lba 101
echo "nvme: ok"
GUEST
set +e
"$here/vm/run.sh" --timeout 900 --root "$tree" \
    --drive "file=$image,if=none,id=nvm,format=raw" \
    --device "nvme,serial=dpdkrs-0001,drive=nvm,addr=06.0" -- \
    "sh $work/guest.sh" | tee "$work/out.log" | grep -v '^\['
status=${PIPESTATUS[0]}
set -e
[ "$status" = 0 ] || { echo "vm-nvme: the guest failed (status $status)"; exit 1; }
grep -q "^nvme: ok" "$work/out.log" || { echo "vm-nvme: the driver runs failed"; exit 1; }
"$x86" check-image "$image" 100 101
echo "vm-nvme: passed"
