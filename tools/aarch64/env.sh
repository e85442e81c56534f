# Sourced by the tools that cross-build for aarch64: points cargo, pkg-config,
# bindgen and cc at an arm64 Debian sysroot (tools/trees.sh bookworm-arm64 or
# trixie-arm64: Debian's arm64 packages unpacked), compiles and links with
# clang for aarch64 (Debian 12's gcc-aarch64-linux-gnu cannot be installed
# beside gcc-multilib, which the i686 builds need), with the GNU linker of
# binutils-aarch64-linux-gnu and the sysroot's libgcc, and runs test binaries
# in that sysroot under qemu-aarch64 (tools/aarch64/run). DPDK_RS_ARM64_ROOT
# picks the sysroot (default: Debian 12's, DPDK 22.11).
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${DPDK_RS_CACHE:=/var/cache/dpdk-rs}"
: "${DPDK_RS_ARM64_ROOT:=$DPDK_RS_CACHE/bookworm-arm64}"
export DPDK_RS_ARM64_ROOT
export PKG_CONFIG_ALLOW_CROSS=1
export PKG_CONFIG_SYSROOT_DIR="$DPDK_RS_ARM64_ROOT"
export PKG_CONFIG_LIBDIR="$DPDK_RS_ARM64_ROOT/usr/lib/aarch64-linux-gnu/pkgconfig:$DPDK_RS_ARM64_ROOT/usr/share/pkgconfig"
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER="$here/linker"
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="$here/run"
export CC_aarch64_unknown_linux_gnu=clang
export AR_aarch64_unknown_linux_gnu=aarch64-linux-gnu-ar
export CFLAGS_aarch64_unknown_linux_gnu="--target=aarch64-linux-gnu --sysroot=$DPDK_RS_ARM64_ROOT"
