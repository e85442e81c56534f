#!/usr/bin/env bash
# Boots the test VM (QEMU, software emulation) and runs a shell command in it,
# inside the host's root mounted read-only over 9p, with QEMU's edu, ivshmem-plain
# and e1000e bound to vfio-pci in the guest; --device adds QEMU devices after
# those (a hot-pluggable root port and what sits behind it, a bridge...) without
# moving them. See tools/vm/README.md.
#
#   tools/vm/run.sh [--timeout S] [--ivshmem-file PATH] [--ivshmem-size SIZE]
#                   [--root DIR]... [--monitor SOCKET] [--device SPEC]...
#                   [--drive SPEC]... [--netdev SPEC]...
#                   [--verbose] -- SHELL-COMMAND...
#
# Streams the guest console to stdout and exits with the command's status, as the
# guest reported it (DPDKRS-VM-EXIT=<n>); 124 on timeout (QEMU is killed by its
# PID), 125 when the guest reported nothing. No network: -net none, and the
# e1000e has no backend; --netdev adds backends that stay inside QEMU (hub
# ports joining NICs given with --device), never a host interface. The guest powers off by itself (panic=-1, -no-reboot).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache="${DPDK_RS_CACHE:-/var/cache/dpdk-rs}/vm"

usage() {
    sed -n 's/^#   //p' "$0" >&2
    exit 2
}
timeout=300 ivshmem_file="" ivshmem_size="" roots=() monitor="" devices=() verbose=0
while (($#)); do
    case "$1" in
        --timeout | --ivshmem-file | --ivshmem-size | --root | --i386-root | --monitor | --device | --drive | --netdev)
            (($# >= 2)) || usage
            case "$1" in
                --timeout) timeout=$2 ;;
                --ivshmem-file) ivshmem_file=$2 ;;
                --ivshmem-size) ivshmem_size=$2 ;;
                --root | --i386-root) roots+=("$2") ;;
                --monitor) monitor=$2 ;;
                --device) devices+=(-device "$2") ;;
                --drive) devices+=(-drive "$2") ;;
                --netdev)
                    [[ $2 == hubport,* ]] ||
                        { echo "run.sh: --netdev takes hub ports only (hubport,...): nothing may reach the host's network" >&2; exit 2; }
                    devices+=(-netdev "$2") ;;
            esac
            shift 2 ;;
        --verbose) verbose=1; shift ;;
        --) shift; break ;;
        *) echo "run.sh: unknown option '$1'" >&2; usage ;;
    esac
done
(($#)) || usage
[[ $timeout =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: --timeout wants whole seconds" >&2; exit 2; }
for root in "${roots[@]}"; do
    # It travels on the kernel command line: absolute, no blanks or commas.
    [[ $root = /* && $root != *[[:space:],]* ]] && [ -d "$root" ] ||
        { echo "run.sh: --root wants an absolute directory path without blanks or commas" >&2; exit 2; }
done

"$here/prepare.sh" -q >&2

# The guest reaches this directory at the same path through /host: it must sit
# on the host's /tmp, which the guest leaves visible (not on its own tmpfs).
work=$(mktemp -d /tmp/dpdk-rs-vm.XXXXXX)
wrapper_pid="" reader_pid=""
stop_qemu() {
    local pid
    pid=$(cat "$work/qemu.pid" 2>/dev/null) || pid=""
    if [ -n "$pid" ] && [[ $(cat "/proc/$pid/comm" 2>/dev/null) == qemu-system* ]]; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
    fi
    # QEMU not started yet: the timeout wrapper is ours too.
    if [ -n "$wrapper_pid" ] && kill -0 "$wrapper_pid" 2>/dev/null; then
        kill -TERM "$wrapper_pid" 2>/dev/null || true
    fi
}
cleanup() {
    stop_qemu
    [ -n "$reader_pid" ] && wait "$reader_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ -z "$ivshmem_file" ]; then
    ivshmem_file="$work/ivshmem"
fi
if [ ! -e "$ivshmem_file" ]; then
    truncate -s "${ivshmem_size:-1M}" "$ivshmem_file"
fi
if [ -z "$ivshmem_size" ]; then
    ivshmem_size=$(stat -L -c %s "$ivshmem_file")
    ((ivshmem_size > 0)) || { echo "run.sh: $ivshmem_file is empty; give --ivshmem-size" >&2; exit 2; }
fi

# The guest script: the caller's PATH conventions, its working directory, the command.
quote() { printf "'%s'" "${1//\'/\'\\\'\'}"; }
{
    echo "# tools/vm/run.sh: runs in the guest as: chroot /host /bin/sh $work/guest.sh"
    echo "export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin TMPDIR=/run/tmp"
    echo "cd $(quote "$PWD") || { echo $(quote "vm: $PWD is not reachable in the guest"); exit 125; }"
    printf '%s\n' "$*"
} >"$work/guest.sh"

# no_timer_check: on a loaded host, TCG can be too slow for the kernel's boot-time
# check of the timer through the interrupt-remapped IO-APIC, which then panics.
append="console=ttyS0 edd=off panic=-1 no_timer_check intel_iommu=on iommu=pt dpdkrs.script=$work/guest.sh"
((${#roots[@]})) && append+=" dpdkrs.roots=$(IFS=,; echo "${roots[*]}")"
if ((verbose)); then append+=" loglevel=7"; else append+=" quiet loglevel=3"; fi
kernel=$cache/vmlinux
[ -s "$kernel" ] || kernel=$cache/vmlinuz
monitor_arg=none
[ -n "$monitor" ] && monitor_arg="unix:${monitor//,/,,},server=on,wait=off"
qemu=(qemu-system-x86_64 -accel tcg -cpu max -m 1024 -smp 2
    -machine q35,kernel-irqchip=split
    -device intel-iommu,intremap=on,caching-mode=on
    -kernel "$kernel" -initrd "$cache/initrd.gz" -append "$append"
    -device edu,addr=03.0,dma_mask=0xffffffffffffffff
    -object "memory-backend-file,id=ivmem,mem-path=${ivshmem_file//,/,,},size=$ivshmem_size,share=on"
    -device ivshmem-plain,memdev=ivmem,addr=04.0
    -device e1000e,addr=05.0
    "${devices[@]}"
    -virtfs local,path=/,mount_tag=host,security_model=none,readonly=on,multidevs=remap
    -nographic -vga none -no-reboot -net none -serial stdio -monitor "$monitor_arg"
    -pidfile "$work/qemu.pid")

# The console, cleaned of carriage returns and terminal escapes, goes whole to
# the log. On stdout, unless --verbose: no firmware banners or blank lines before
# the first real line (which may follow a banner on the same line), no power-down
# message. The kernel's own lines are mostly silenced by quiet loglevel=3.
quiet_filter='
x; /^started$/ { x; b body; }; x
s/^Booting from ROM\.*//
s/^Probing EDD [^.]*\.\.\. ok//
/^[[:space:]]*$/d
/^(SeaBIOS |iPXE |Press Ctrl-B)/d
/^qemu-system-x86_64: warning: nic e1000e\.0 has no peer$/d
x; s/.*/started/; x
:body
/^\[ *[0-9]+\.[0-9]+\] reboot: Power down$/d'
((verbose)) && quiet_filter=""

mkfifo "$work/console"
start=$EPOCHREALTIME
# Backstop: if this script dies without cleaning up, timeout(1) still ends QEMU.
timeout --kill-after=10 $((timeout + 60)) "${qemu[@]}" </dev/null >"$work/console" 2>&1 &
wrapper_pid=$!
LC_ALL=C sed -u 's/\r//g; s/\x1b\[[0-9;?]*[A-Za-z]//g; s/\x1bc//g' <"$work/console" |
    tee -p "$work/console.log" | LC_ALL=C sed -u -E "$quiet_filter" &
reader_pid=$!

# EPOCHREALTIME in microseconds (its separator follows the locale).
usec() { local t=${1//[!0-9]/}; echo $((10#$t)); }
deadline=$(($(usec "$start") + timeout * 1000000))
result_at="" timed_out=0
while kill -0 "$wrapper_pid" 2>/dev/null; do
    if [ -z "$result_at" ] &&
        tail -c 4096 "$work/console.log" 2>/dev/null | LC_ALL=C grep 'DPDKRS-VM-EXIT=[0-9][0-9]*$' >/dev/null; then
        result_at=$EPOCHREALTIME
    fi
    if (($(usec "$EPOCHREALTIME") > deadline)); then
        timed_out=1
        stop_qemu
        break
    fi
    sleep 0.1
done
wait "$wrapper_pid" 2>/dev/null || true
wrapper_pid=""
wait "$reader_pid" 2>/dev/null || true
reader_pid=""
end=${result_at:-$EPOCHREALTIME}

status=$(LC_ALL=C sed -n 's/.*DPDKRS-VM-EXIT=\([0-9][0-9]*\)$/\1/p' "$work/console.log" | tail -1)
elapsed=$((($(usec "$end") - $(usec "$start")) / 1000))
seconds=$(printf '%d.%d' $((elapsed / 1000)) $((elapsed % 1000 / 100)))
if [ -n "$status" ]; then
    echo "vm: boot-to-result $seconds s"
elif ((timed_out)); then
    echo "vm: timed out after $timeout s; QEMU killed" >&2
    status=124
else
    echo "vm: QEMU stopped after $seconds s without DPDKRS-VM-EXIT (log: see above)" >&2
    status=125
fi
exit "$status"
