# Sourced by the tools that cross-build for i686: points cargo, pkg-config, bindgen
# and cc at the i386 Debian tree (made by tools/setup.sh) used as sysroot.
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${DPDK_RS_CACHE:=/var/cache/dpdk-rs}"
: "${DPDK_RS_I386_ROOT:=$DPDK_RS_CACHE/bookworm-i386}"
export DPDK_RS_I386_ROOT
export PKG_CONFIG_ALLOW_CROSS=1
export PKG_CONFIG_SYSROOT_DIR="$DPDK_RS_I386_ROOT"
export PKG_CONFIG_LIBDIR="$DPDK_RS_I386_ROOT/usr/lib/i386-linux-gnu/pkgconfig:$DPDK_RS_I386_ROOT/usr/share/pkgconfig"
export CARGO_TARGET_I686_UNKNOWN_LINUX_GNU_LINKER="$here/linker"
export CARGO_TARGET_I686_UNKNOWN_LINUX_GNU_RUNNER="$here/run"
export CC_i686_unknown_linux_gnu=gcc
export CFLAGS_i686_unknown_linux_gnu="-m32 --sysroot=$DPDK_RS_I386_ROOT"
