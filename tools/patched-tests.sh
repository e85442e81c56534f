#!/usr/bin/env bash
# The crates against DPDK built from Debian's source package with patches/
# applied (patches/build.sh, cached): the test suite on x86_64 and on i686.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/.."
xtask="$here/xtask" # tools/xtask help (kept: env.sh below sets $here)
# build.sh prints the two prefixes on its last line. Its output is taken whole
# (not through a pipe or a process substitution) so that its exit status counts.
built=$("$here/../patches/build.sh") ||
    { rc=$?; echo "patched-tests: FAILED: patches/build.sh exited with $rc"; exit 1; }
last=${built##*$'\n'}
read -r x86_prefix i386_prefix <<<"$last"
[[ -n ${i386_prefix:-} && -d $x86_prefix && -d $i386_prefix ]] ||
    { echo "patched-tests: FAILED: patches/build.sh's last line is not two installed prefixes: '$last'"; exit 1; }
x86_lib="$x86_prefix/lib/x86_64-linux-gnu"
export CARGO_TARGET_DIR="$PWD/target/patched"
# The patched build keeps its driver list short (patches/build.sh: net_null is
# its only net driver; the series touches the PCI bus, not ethdev), so the
# data-plane tests that need net_ring, net_pcap or net_af_packet run against
# Debian's DPDK only.
skips=(--skip port_misuse_is_a_typed_error --skip ring_bursts_of_1_to_64
       --skip million_packets_accounted_and_no_allocation --skip workers_on_lcores
       --skip pcap_read_forward_write --skip af_packet_over_a_veth_pair
       --skip queue_callbacks_run_and_mbufs_cross_threads)

echo "-- x86_64 against $x86_prefix"
out=$(PKG_CONFIG_PATH="$x86_lib/pkgconfig" LD_LIBRARY_PATH="$x86_lib" \
    cargo test -p dpdk-sys -p dpdk-safe -- "${skips[@]}" 2>&1) || { echo "$out"; exit 1; }
grep -q "building against DPDK .* from $x86_prefix (custom-prefix)" <<<"$out" ||
    { echo "the build script did not report the patched prefix"; echo "$out"; exit 1; }
"$xtask" test-results - <<<"$out"

echo "-- i686 against $i386_prefix"
source "$here/i686/env.sh"
inside=${i386_prefix#"$DPDK_RS_I386_ROOT"}
out=$(PKG_CONFIG_LIBDIR="$i386_prefix/lib/i386-linux-gnu/pkgconfig:$PKG_CONFIG_LIBDIR" \
    LD_LIBRARY_PATH="$inside/lib/i386-linux-gnu" \
    cargo test -p dpdk-sys -p dpdk-safe --target i686-unknown-linux-gnu -- "${skips[@]}" 2>&1) || { echo "$out"; exit 1; }
grep -q "building against DPDK .* from $i386_prefix (custom-prefix)" <<<"$out" ||
    { echo "the build script did not report the patched prefix"; echo "$out"; exit 1; }
"$xtask" test-results - <<<"$out"
