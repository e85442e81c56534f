#!/usr/bin/env bash
# Builds DPDK from Debian 12's source package with this series applied, for
# x86_64 (on the host) and i386 (natively, inside the i386 tree made by
# tools/setup.sh), and installs each into a prefix the crates can use:
#
#   PKG_CONFIG_PATH=$DPDK_RS_CACHE/patched/x86_64/lib/x86_64-linux-gnu/pkgconfig cargo build
#
# The i386 build is installed inside the tree, at /opt/dpdk-rs-patched, so that
# the cross build (pkg-config with the tree as sysroot) and the i386 test
# binaries (run chrooted in the tree) see it at the path it was built for.
#
# The build is minimal: EAL, the PCI and vdev buses, the null and e1000
# network drivers, the driver SDK headers. Results are cached and rebuilt when
# the series or this script changes. Prints the two prefixes as the host sees
# them.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
: "${DPDK_RS_CACHE:=/var/cache/dpdk-rs}"
tree="$DPDK_RS_CACHE/bookworm-i386"
out="$DPDK_RS_CACHE/patched"
build_deps=(meson ninja-build python3-pyelftools libnuma-dev gcc pkg-config)
# apt-get source unpacks with dpkg-source (dpkg-dev); the series applies with patch.
host_deps=(dpkg-dev patch)
export DEBIAN_FRONTEND=noninteractive

# One build at a time: the test suite's host and VM lanes may both ask for it
# (patched-tests.sh, proof/run.sh); the second waits and finds it made.
mkdir -p "$out"
exec 9>"$out.lock"
flock 9
stamp=$(cat "$here"/*.patch "$here/build.sh" | sha256sum | cut -c1-16)
i386_prefix=/opt/dpdk-rs-patched
if [ "$(cat "$out/stamp" 2>/dev/null)" = "$stamp" ] && [ -d "$tree$i386_prefix" ]; then
    echo "$out/x86_64 $tree$i386_prefix"
    exit 0
fi

missing=()
for p in "${build_deps[@]}" "${host_deps[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
((${#missing[@]} == 0)) || { apt-get update -qq; apt-get install -y -qq "${missing[@]}" >/dev/null; }

# The Debian source package, with Debian's own patches applied.
src_cache="$DPDK_RS_CACHE/src"
if ! ls -d "$src_cache"/dpdk-22.11* >/dev/null 2>&1; then
    if ! grep -rqs '^Types: deb-src' /etc/apt/sources.list.d/ && ! grep -qs '^deb-src' /etc/apt/sources.list; then
        mirror=$("$here/../tools/apt-mirror.sh")
        cat >/etc/apt/sources.list.d/dpdk-rs-src.sources <<SOURCES
Types: deb-src
URIs: $mirror
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
    fi
    apt-get update -qq
    mkdir -p "$src_cache"
    (cd "$src_cache" && apt-get source -qq dpdk >/dev/null 2>&1)
fi
upstream=$(ls -d "$src_cache"/dpdk-22.11* | head -1)
work="$out/work"
rm -rf "$work" "$out/x86_64" "$out/i386" "$tree$i386_prefix"
mkdir -p "$work"
cp -a "$upstream" "$work/dpdk"
for p in "$here"/*.patch; do
    patch -d "$work/dpdk" -p1 -F0 -s <"$p"
    echo "applied $(basename "$p")"
done

options=(-Dbuildtype=release -Denable_driver_sdk=true -Dtests=false -Dexamples= -Denable_docs=false
         -Denable_drivers=bus/pci,bus/vdev,net/null,net/e1000,mempool/ring
         -Ddisable_libs=bitratestats,cfgfile,flow_classify,gpudev,gro,gso,kni,jobstats,latencystats,metrics,node,pdump,pipeline,port,power,table,vhost
         -Ddisable_apps=dumpcap,pdump,proc-info,test-acl,test-bbdev,test-cmdline,test-compress-perf,test-crypto-perf,test-dma-perf,test-eventdev,test-fib,test-flow-perf,test-gpudev,test-pipeline,test-pmd,test-regex,test-sad,test-security-perf,test-mldev,graph,pdump
         -Dmachine=corei7)

start=$(date +%s)
meson setup "$work/build-x86_64" "$work/dpdk" --prefix="$out/x86_64" "${options[@]}" >"$work/meson-x86_64.log"
ninja -C "$work/build-x86_64" install >"$work/ninja-x86_64.log"
echo "x86_64 build: $(( $(date +%s) - start )) s"

# i386: natively inside the tree, with its own compiler and build tools.
start=$(date +%s)
chroot "$tree" sh -c "dpkg-query -W meson ninja-build python3-pyelftools libnuma-dev >/dev/null 2>&1 || \
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ${build_deps[*]} >/dev/null)"
mkdir -p "$tree/build"
rm -rf "$tree/build/dpdk" "$tree/build/b"
cp -a "$work/dpdk" "$tree/build/dpdk"
chroot "$tree" sh -c "meson setup /build/b /build/dpdk --prefix=$i386_prefix ${options[*]} >/build/meson.log && ninja -C /build/b install >/build/ninja.log"
rm -rf "$tree/build"
echo "i386 build: $(( $(date +%s) - start )) s"
echo "$stamp" >"$out/stamp"
echo "$out/x86_64 $tree$i386_prefix"
