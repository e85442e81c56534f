#!/usr/bin/env bash
# The main job: boot a QEMU VM whose emulated PCI devices (edu, ivshmem-plain,
# e1000e) are bound to vfio-pci, and run examples/bar_report.rs there, built for
# x86_64 and for i686 (with Debian's i386 DPDK), to probe them and read and
# write their BARs. Then show what the guests wrote into the host file behind
# ivshmem's BAR2. The x86_64 build runs twice: against Debian 12's DPDK 22.11
# and against Debian 13's DPDK 24.11 (built in the Debian 13 tree). Run as root
# on Debian 12; installs what it needs first.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/.."
"$here/setup.sh"
: "${DPDK_RS_CACHE:=/var/cache/dpdk-rs}"
tree="$DPDK_RS_CACHE/bookworm-i386"

cargo build --quiet --example bar_report --example edu
(
    source "$here/i686/env.sh"
    cargo build --quiet --example bar_report --target i686-unknown-linux-gnu
)
trixie="$DPDK_RS_CACHE/trixie-amd64"
CARGO_TARGET_DIR="$PWD/target/trixie-amd64" "$here/tree/run" "$trixie" cargo build --quiet --example bar_report
x24="$PWD/target/trixie-amd64/debug/examples/bar_report"
x86="$PWD/target/debug/examples"
i686="$PWD/target/i686-unknown-linux-gnu/debug/examples/bar_report"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
truncate -s 1M "$work/ivshmem"
printf 'hello from the host, %s' "$(date -u +%FT%TZ)" | dd of="$work/ivshmem" conv=notrunc status=none
guest="$DPDK_RS_CACHE/vm/demo-guest.sh"
cat >"$guest" <<GUEST
set -e
echo; echo "######## x86_64 build"
'$x86/bar_report'
echo; echo "######## the edu driver example"
'$x86/edu'
echo; echo "######## i686 build, in Debian's i386 tree"
cp '$i686' '$tree/tmp/bar_report'
TMPDIR=/tmp chroot '$tree' /tmp/bar_report
echo; echo "######## x86_64 build against DPDK 24.11, in the Debian 13 tree"
cp '$x24' '$trixie/tmp/bar_report'
TMPDIR=/tmp chroot '$trixie' /tmp/bar_report
GUEST
"$here/vm/run.sh" --timeout 600 --ivshmem-file "$work/ivshmem" --root "$tree" --root "$trixie" -- "sh $guest" |
    grep -v -e '^\[' -e '^EAL: ' -e '^TELEMETRY' -e 'iPXE' -e 'Booting from' -e SeaBIOS -e '^.\[' || true
status=${PIPESTATUS[0]}
echo
echo "host file behind ivshmem BAR2, after the VM:"
for at in 4096 8192 12288; do
    printf '  +%#x: %s\n' "$at" "$(dd if="$work/ivshmem" bs=1 skip="$at" count=40 status=none | tr -d '\0')"
done
exit "$status"
