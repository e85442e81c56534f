#!/usr/bin/env bash
# VM fault tests (safe/tests/vm_faults.rs): builds the test binary for x86_64 and
# i686 against Debian 12's DPDK 22.11 (--no-i686: x86_64 only), boots the VM once
# with extra devices, and runs there:
#
#   hot-unplug   an edu behind a hot-pluggable PCIe root port, opened and mapped,
#                removed with QEMU's device_del: the guest prints
#                "DPDKRS-VM-MONITOR: device_del ID" and this script sends the
#                command through the monitor socket (perl, whose IO::Socket::UNIX
#                is in perl-base); the process gets VFIO's request notification,
#                releases the device and carries on with its others
#   driver unplug  the same for a Rust driver's device (a second hot-pluggable
#                edu, QEMU id hp2): DPDK reports the removal request as a
#                device event, the application detaches the device, the
#                driver's kept handle is revoked
#   leaks        1000 open -> region info -> map / pread -> release cycles: open
#                fds and /proc/self/maps lines before and after (i686 too: pread)
#   privileges   as nobody (setpriv) with a memlock limit (prlimit): the typed
#                errors without the group node or memlock, a register read with both
#   not viable   an edu sharing its IOMMU group (behind a PCIe-to-PCI bridge)
#                with a virtio device bound to virtio-pci: GroupNotViable
#
#   tools/vm-faults.sh [--no-i686] [--cycles N]
#
# Exits non-zero when a test fails; prints the figures at the end.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/.."
: "${DPDK_RS_CACHE:=/var/cache/dpdk-rs}"
xtask="$here/xtask" # tools/xtask help
i686=1 cycles=1000
while (($#)); do
    case "$1" in
        --no-i686) i686=0; shift ;;
        --cycles) cycles=$2; shift 2 ;;
        *) sed -n 's/^#   //p' "$0" >&2; exit 2 ;;
    esac
done
[[ $cycles =~ ^[0-9]+$ ]] || { echo "vm-faults: --cycles wants a number" >&2; exit 2; }

# Path of the vm_faults test binary, built with cargo arguments "$@" (cargo's
# JSON messages, read by xtask).
test_binary() {
    "$xtask" executables --name vm_faults -- cargo test -p dpdk-safe --test vm_faults --no-run "$@"
}
x86=$(test_binary) || { echo "vm-faults: building the test binary failed"; exit 1; }
[ -x "$x86" ] || { echo "vm-faults: test binary not found"; exit 1; }
tree="$DPDK_RS_CACHE/bookworm-i386"
run_args=()
if ((i686)); then
    x32=$(
        source "$here/i686/env.sh"
        test_binary --target i686-unknown-linux-gnu
    ) || { echo "vm-faults: building the i686 test binary failed"; exit 1; }
    [ -x "$x32" ] || { echo "vm-faults: i686 test binary not found"; exit 1; }
    run_args+=(--root "$tree")
fi

# On the host's /tmp: the guest sees it (read-only). A short path: the monitor
# socket's name must fit sun_path.
work=$(mktemp -d /tmp/dpdk-rs-faults.XXXXXX)
trap 'rm -rf "$work"' EXIT
monitor="$work/monitor.sock"

# Devices beside run.sh's fixed ones: two edus behind hot-pluggable root ports
# (QEMU ids hp1 and hp2), and behind a second root port a PCIe-to-PCI bridge with an edu
# and a virtio-rng: conventional PCI devices behind a bridge share an IOMMU group.
run_args+=(
    --device pcie-root-port,id=rp1,chassis=1,slot=1,addr=06.0
    --device edu,bus=rp1,id=hp1
    --device pcie-root-port,id=rp3,chassis=3,slot=3,addr=08.0
    --device edu,bus=rp3,id=hp2
    --device pcie-root-port,id=rp2,chassis=2,slot=2,addr=07.0
    --device pcie-pci-bridge,id=br1,bus=rp2
    --device edu,bus=br1,addr=01.0
    --device virtio-rng-pci,bus=br1,addr=02.0
)

# The tests, each in its own process (one EAL each), timed; the kernel's side of
# the unplug from dmesg. The exit status counts failures.
cat >"$work/guest.sh" <<GUEST
export DPDK_RS_VM_FAULTS=1 DPDK_RS_LEAK_CYCLES=$cycles
# Where the firmware put the extra devices.
hp=\$(basename /sys/devices/pci0000:00/0000:00:06.0/0000:*:00.0)
hp2=\$(basename /sys/devices/pci0000:00/0000:00:08.0/0000:*:00.0)
bridged=\$(basename /sys/devices/pci0000:00/0000:00:07.0/0000:*:00.0/0000:*:01.0)
export DPDK_RS_HOTPLUG_ADDR=\$hp DPDK_RS_HOTPLUG_ID=hp1 DPDK_RS_BRIDGED_ADDR=\$bridged
export DPDK_RS_HOTPLUG2_ADDR=\$hp2 DPDK_RS_HOTPLUG2_ID=hp2
echo "vm-faults: hot-pluggable edu \$hp (group \$(basename \$(readlink /sys/bus/pci/devices/\$hp/iommu_group))), bridged edu \$bridged (group \$(basename \$(readlink /sys/bus/pci/devices/\$bridged/iommu_group)): \$(ls /sys/bus/pci/devices/\$bridged/iommu_group/devices | tr '\n' ' '))"
failed=0
run() {
    label=\$1
    shift
    echo "== \$label"
    t0=\$(date +%s%N)
    "\$@" --ignored --exact --nocapture --test-threads=1 --color never
    status=\$?
    echo "== \$label: status \$status in \$(( (\$(date +%s%N) - t0) / 1000000 )) ms"
    [ "\$status" = 0 ] || failed=\$((failed + 1))
}
run "x86_64 hot-unplug" '$x86' hot_unplug_is_requested_released_and_the_rest_carries_on
echo "== kernel log of the unplug"
dmesg | grep -E "vfio-pci|pciehp|acpiphp|\$hp" | grep -vE "registered\$|Adding to iommu group|vfio_pci: add " | tail -15
run "x86_64 driver unplug" '$x86' a_driver_s_device_is_revoked_after_a_hot_unplug
run "x86_64 leaks" '$x86' open_map_release_cycles_leave_nothing_behind
run "x86_64 privileges" '$x86' a_user_without_root_needs_the_group_node_and_memlock
run "x86_64 not viable" '$x86' a_group_shared_with_another_driver_is_not_viable
if [ $i686 = 1 ]; then
    cp '${x32:-}' '$tree/tmp/vm_faults'
    # No hot-pluggable device is left (the unplug ran as x86_64); the other
    # tests add an EAL start each (30-40 s under load) and no new code path.
    run "i686 leaks" env TMPDIR=/tmp DPDK_RS_LEAK_COLD_CYCLES=20 chroot '$tree' /tmp/vm_faults open_map_release_cycles_leave_nothing_behind
fi
exit \$failed
GUEST

# The console, line by line: device_del requests go to the monitor.
monitor_command() {
    perl -MIO::Socket::UNIX -e '
        my ($path, $cmd) = @ARGV;
        my $s = IO::Socket::UNIX->new(Peer => $path) or die "vm-faults: monitor $path: $!\n";
        local $SIG{ALRM} = sub { die "vm-faults: the monitor did not answer\n" };
        alarm 15;
        my $buf = "";
        my $prompt = sub {
            while ($buf !~ /\(qemu\) $/) {
                sysread($s, $buf, 4096, length $buf) or die "vm-faults: the monitor closed\n";
            }
        };
        $prompt->();
        $buf = "";
        syswrite($s, "$cmd\n");
        $prompt->();
        # The monitor echoes the command as typed (readline redraws): its
        # first line. What follows, before the next prompt, is the answer.
        $buf =~ s/\e\[[0-9;]*[A-Za-z]|\r//g;
        $buf =~ s/\(qemu\) $//;
        $buf =~ s/^[^\n]*\n//;
        print "vm-faults: monitor <- $cmd", ($buf =~ /\S/ ? ": $buf" : " (accepted)\n");
    ' "$monitor" "$1"
}
start=$EPOCHREALTIME
set +e
"$here/vm/run.sh" --timeout 900 --monitor "$monitor" "${run_args[@]}" -- "sh $work/guest.sh" |
    while IFS= read -r line; do
        printf '%s\n' "$line"
        case "$line" in
            *"DPDKRS-VM-MONITOR: device_del "*)
                command=${line##*DPDKRS-VM-MONITOR: }
                if [[ $command =~ ^device_del\ [A-Za-z0-9_-]+$ ]]; then
                    monitor_command "$command" || echo "vm-faults: monitor command failed"
                else
                    echo "vm-faults: refusing monitor command '$command'"
                fi ;;
        esac
    done | tee "$work/out.log"
status=${PIPESTATUS[0]}
set -e
elapsed=$(((${EPOCHREALTIME/[!0-9]/} - ${start/[!0-9]/}) / 1000))

echo
echo "vm-faults: figures"
grep -E "^vm-faults: |^== .*: status|^vm: boot-to-result" "$work/out.log" | grep -v "^vm-faults: monitor" || true
echo "vm-faults: wall time $((elapsed / 1000)).$((elapsed % 1000 / 100)) s (build excluded)"
[ "$status" = 0 ] || { echo "vm-faults: FAILED (guest status $status)"; exit 1; }
# Each test's own section, from "== LABEL" to "== LABEL: status 0": its one
# test passed (a name that matches nothing would run 0 and still exit 0), and
# lines that prove what it claims are there, in that section (xtask: --expect
# 'LABEL: REGEX'; --expect-same: a line whose regex groups are all equal).
checks=(
    --section "x86_64 hot-unplug"
    --expect "x86_64 hot-unplug: removal request for .* after"
    --expect "x86_64 hot-unplug: gone from sysfs"
    --section "x86_64 driver unplug"
    --expect "x86_64 driver unplug: removal event for .* Removed"
    --expect "x86_64 driver unplug: the driver's remove for"
    --expect "x86_64 driver unplug: detached, its handle revoked"
    --section "x86_64 leaks"
    --expect-same "x86_64 leaks: open fds before ([0-9]+) after ([0-9]+);"
    --section "x86_64 privileges"
    --expect "x86_64 privileges: PermissionDenied|permission denied opening"
    --section "x86_64 not viable"
    --expect "x86_64 not viable: is not viable"
)
((i686)) && checks+=(
    --section "i686 leaks"
    --expect-same "i686 leaks: open fds before ([0-9]+) after ([0-9]+);"
)
cp "$work/out.log" "$DPDK_RS_CACHE/vm/last-faults.log"
"$xtask" vm-faults-log "$work/out.log" "${checks[@]}" || { echo "vm-faults: FAILED: the guest log"; exit 1; }
echo "vm-faults: passed"
