#!/usr/bin/env bash
# Boots the test VM and runs a shell command in it, inside the host's root
# (mounted read-only over 9p), with QEMU's edu, ivshmem-plain and e1000e bound to
# vfio-pci. Exits with the command's status (124: timeout, 125: no report).
#
#   tools/vm/run.sh [--timeout S] [--ivshmem-file PATH] [--ivshmem-size SIZE]
#                   [--i386-root DIR] [--monitor SOCKET] -- COMMAND...
#
# Devices: edu 0000:00:03.0 (1234:11e8), ivshmem-plain 0000:00:04.0 (1af4:1110),
# e1000e 0000:00:05.0 (8086:10d3). Software emulation, no network, and the VM
# powers off by itself; on timeout QEMU is killed by its PID.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
: "${DPDK_RS_CACHE:=/var/cache/dpdk-rs}"
timeout=300 ivshmem_file="" ivshmem_size=1M i386="" monitor=none
while (($#)); do
    case "$1" in
        --timeout) timeout=$2; shift 2 ;;
        --ivshmem-file) ivshmem_file=$2; shift 2 ;;
        --ivshmem-size) ivshmem_size=$2; shift 2 ;;
        --i386-root) i386=$2; shift 2 ;;
        --monitor) monitor="unix:$2,server,nowait"; shift 2 ;;
        --) shift; break ;;
        *) echo "run.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
(($#)) || { echo "run.sh: no command given" >&2; exit 2; }

cache=$("$here/prepare.sh")
work=$(mktemp -d -p "$cache" run.XXXXXX)
qemu_pid=""
cleanup() {
    [ -n "$qemu_pid" ] && kill "$qemu_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
if [ -z "$ivshmem_file" ]; then
    ivshmem_file="$work/ivshmem"
    truncate -s "$ivshmem_size" "$ivshmem_file"
fi
ivshmem_size=$(stat -c %s "$ivshmem_file")
{
    echo "export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin TMPDIR=/run/tmp"
    echo "cd '$(pwd)' || exit 125"
    printf '%s\n' "$*"
} >"$work/guest.sh"

append="console=ttyS0 quiet loglevel=3 intel_iommu=on iommu=pt panic=-1 dpdkrs.script=$work/guest.sh"
[ -n "$i386" ] && append="$append dpdkrs.i386=$i386"
start=$(date +%s.%N)
qemu-system-x86_64 -accel tcg -cpu max -m 1024 -smp 2 -nographic -no-reboot -net none \
    -machine q35,kernel-irqchip=split -device intel-iommu,intremap=on \
    -kernel "$cache/vmlinuz" -initrd "$cache/initrd.gz" -append "$append" \
    -device edu,addr=03.0 \
    -object "memory-backend-file,id=ivmem,mem-path=$ivshmem_file,size=$ivshmem_size,share=on" \
    -device ivshmem-plain,memdev=ivmem,addr=04.0 \
    -device e1000e,addr=05.0 \
    -virtfs local,path=/,mount_tag=host,security_model=none,readonly=on,multidevs=remap \
    -monitor "$monitor" -serial stdio </dev/null >"$work/console.log" 2>&1 &
qemu_pid=$!
# Stream the console while the VM runs.
tail -n +1 -f --pid="$qemu_pid" "$work/console.log" 2>/dev/null | tr -d '\r' &
tail_pid=$!
status=124
for _ in $(seq $((timeout * 10))); do
    if ! kill -0 "$qemu_pid" 2>/dev/null; then
        status=125
        break
    fi
    sleep 0.1
done
if kill -0 "$qemu_pid" 2>/dev/null; then
    kill "$qemu_pid"
    echo "vm: timed out after ${timeout}s" >&2
fi
wait "$qemu_pid" 2>/dev/null || true
qemu_pid=""
wait "$tail_pid" 2>/dev/null || true
end=$(date +%s.%N)
reported=$(tr -d '\r' <"$work/console.log" | sed -n 's/^DPDKRS-VM-EXIT=\([0-9]*\)$/\1/p' | tail -1)
[ -n "$reported" ] && status=$reported
awk -v s="$start" -v e="$end" 'BEGIN { printf "vm: boot-to-result %.1f s\n", e - s }'
exit "$status"
