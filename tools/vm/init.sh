#!/bin/sh
# PID 1 of the test VM (busybox sh), built into the initramfs by prepare.sh.
#
# Loads the VFIO and 9p modules, mounts the host's root read-only at /host,
# binds QEMU's edu, ivshmem and e1000e to vfio-pci, runs the host-side script
# named on the kernel command line inside /host, prints DPDKRS-VM-EXIT=<status>
# and powers off. Kernel command line:
#
#   dpdkrs.script=PATH   script to run as `chroot /host /bin/sh PATH`
#   dpdkrs.roots=DIR[,DIR...]  optional: other Debian roots on the host (the i386
#                        tree, the Debian 13 tree), each made ready for
#                        `chroot DIR PROGRAM` (proc, sys, dev, tmpfs /run and /tmp)
#
# The host's /tmp stays visible (read-only) in /host: run.sh's script and work
# trees live there. Writable: /run (tmpfs; TMPDIR=/run/tmp), /dev, and each
# extra root's /run and /tmp.
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1

# Report and stop. If poweroff fails, PID 1 exits: the kernel panics, and
# panic=-1 with QEMU's -no-reboot ends the VM.
report() {
    echo "DPDKRS-VM-EXIT=$1"
    poweroff -f
    sleep 5
    exit "$1"
}
fail() {
    echo "vm: $*"
    report 125
}

script=
roots=
for word in $(cat /proc/cmdline); do
    case "$word" in
        dpdkrs.script=*) script=${word#*=} ;;
        dpdkrs.roots=*) roots=${word#*=} ;;
    esac
done
[ -n "$script" ] || fail "no dpdkrs.script= on the kernel command line"

# In dependency order (prepare.sh computed it from modules.dep).
while read -r module; do
    insmod "/lib/modules/$module" || fail "insmod $module failed"
done </lib/modules/load-order

# The host's root, over virtio-9p. The virtio transport may need a moment.
# cache=loose keeps what the guest read in its page cache: without it every
# process maps DPDK's ~130 driver plugins page by page over 9p again, and the
# guest sat idle waiting for the host (a vm_devices section: 388 s uncached,
# 51 s cached). The host's files the guest reads do not change while it runs.
mounted=
for _ in 1 2 3 4 5 6 7 8 9 10; do
    if mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=512000,cache=loose host /host 2>/dev/null; then
        mounted=1
        break
    fi
    sleep 0.2
done
[ -n "$mounted" ] || fail "mounting the host's root over 9p failed"

# What a chroot needs: proc, sys, dev (with /dev/vfio), a writable /run.
system_mounts() {
    mount -t proc proc "$1/proc" &&
        mount -t sysfs sysfs "$1/sys" &&
        mount -t devtmpfs devtmpfs "$1/dev" &&
        mkdir -p "$1/dev/shm" && mount -t tmpfs -o mode=1777 tmpfs "$1/dev/shm" &&
        mount -t tmpfs -o mode=755 tmpfs "$1/run" ||
        fail "mounting proc, sys, dev and run in $1 failed"
}
system_mounts /host
mkdir -p /host/run/tmp && chmod 1777 /host/run/tmp
for root in $(echo "$roots" | tr , ' '); do
    [ -d "/host$root/usr" ] || fail "no Debian root at $root"
    system_mounts "/host$root"
    mount -t tmpfs -o mode=1777 tmpfs "/host$root/tmp" || fail "mounting $root/tmp failed"
done

# QEMU's edu, ivshmem and e1000e go to vfio-pci: away from any driver that
# took them, then by ID.
ids="1234:11e8 1af4:1110 8086:10d3"
devices=
new_ids=
for dev in /sys/bus/pci/devices/*; do
    vendor=$(cat "$dev/vendor")
    device=$(cat "$dev/device")
    id="${vendor#0x}:${device#0x}"
    case " $ids " in *" $id "*) ;; *) continue ;; esac
    devices="$devices $dev"
    case " $new_ids " in *" $id "*) ;; *) new_ids="$new_ids $id" ;; esac
    if [ -e "$dev/driver" ] && [ "$(basename "$(readlink "$dev/driver")")" != vfio-pci ]; then
        echo "${dev##*/}" >"$dev/driver/unbind"
    fi
done
for id in $new_ids; do
    echo "${id%:*} ${id#*:}" >/sys/bus/pci/drivers/vfio-pci/new_id ||
        fail "vfio-pci refused new_id $id"
done
summary=
for dev in $devices; do
    [ -e "$dev/driver" ] || echo "${dev##*/}" >/sys/bus/pci/drivers/vfio-pci/bind
    driver=$(basename "$(readlink "$dev/driver")")
    [ "$driver" = vfio-pci ] || fail "${dev##*/} is bound to '$driver', not vfio-pci"
    [ -e "$dev/iommu_group" ] || fail "${dev##*/} has no IOMMU group"
    group=$(basename "$(readlink "$dev/iommu_group")")
    waited=0
    while [ ! -c "/dev/vfio/$group" ]; do
        [ "$waited" -lt 50 ] || fail "/dev/vfio/$group did not appear"
        sleep 0.1
        waited=$((waited + 1))
    done
    vendor=$(cat "$dev/vendor")
    device=$(cat "$dev/device")
    summary="$summary ${dev##*/} ${vendor#0x}:${device#0x} group $group;"
done
summary=${summary%;}
echo "vm: vfio-pci:${summary:- no devices}"

# VFIO pins DMA memory against RLIMIT_MEMLOCK; the command inherits this.
ulimit -l unlimited || fail "cannot raise RLIMIT_MEMLOCK"

cd /
chroot /host /bin/sh "$script" </dev/null
report $?
