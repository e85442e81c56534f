#!/bin/sh
# PID 1 of the test VM: load VFIO and 9p, mount the host's root read-only at
# /host, bind the emulated devices to vfio-pci, run the host's script inside
# /host, report its exit status and power off.
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev

for m in $(cat /lib/modules/load-order); do
    insmod "/lib/modules/$m" 2>/dev/null || echo "vm: insmod $m failed"
done

arg() { sed -n "s/.*$1=\([^ ]*\).*/\1/p" /proc/cmdline; }
script=$(arg dpdkrs.script)
i386=$(arg dpdkrs.i386)

mount -t 9p -o trans=virtio,version=9p2000.L,ro host /host || { echo "vm: 9p mount failed"; echo "DPDKRS-VM-EXIT=125"; poweroff -f; }
mount_system() {
    mount -t proc proc "$1/proc"
    mount -t sysfs sysfs "$1/sys"
    mount -t devtmpfs devtmpfs "$1/dev"
    mount -t tmpfs tmpfs "$1/run"
}
# The host's /tmp stays visible (read-only): the work tree may live there.
# Writable temporary files go to /run/tmp (TMPDIR).
mount_system /host
mkdir -p /host/run/tmp
if [ -n "$i386" ] && [ -d "/host$i386" ]; then
    mount_system "/host$i386"
    mount -t tmpfs tmpfs "/host$i386/tmp"
fi

# Bind QEMU's edu, ivshmem and e1000e to vfio-pci.
echo 1234 11e8 >/sys/bus/pci/drivers/vfio-pci/new_id
echo 1af4 1110 >/sys/bus/pci/drivers/vfio-pci/new_id
echo 8086 10d3 >/sys/bus/pci/drivers/vfio-pci/new_id
for dev in /sys/bus/pci/devices/*; do
    id="$(cat "$dev/vendor"):$(cat "$dev/device")"
    case "$id" in
        0x1234:0x11e8|0x1af4:0x1110|0x8086:0x10d3) ;;
        *) continue ;;
    esac
    if [ -e "$dev/driver" ] && [ "$(basename "$(readlink "$dev/driver")")" != vfio-pci ]; then
        echo "${dev##*/}" >"$dev/driver/unbind"
        echo "${dev##*/}" >/sys/bus/pci/drivers/vfio-pci/bind
    fi
    group=$(basename "$(readlink "$dev/iommu_group")")
    for _ in $(seq 50); do [ -e "/dev/vfio/$group" ] && break; sleep 0.1; done
    echo "vm: ${dev##*/} $id $(basename "$(readlink "$dev/driver")") iommu group $group"
done

echo "vm: running $script"
chroot /host /bin/sh "$script"
echo "DPDKRS-VM-EXIT=$?"
poweroff -f
