#!/usr/bin/env bash
# Prepares the VM's kernel and initramfs, cached under $DPDK_RS_CACHE/vm:
# Debian 12's kernel package (unpacked, not installed) and a busybox initramfs
# holding the VFIO and 9p modules and init.sh. Rebuilds when this script or
# init.sh changes. Prints the cache directory.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
: "${DPDK_RS_CACHE:=/var/cache/dpdk-rs}"
cache="$DPDK_RS_CACHE/vm"
mkdir -p "$cache"

need=()
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
[ -x /bin/busybox ] || need+=(busybox-static)
command -v cpio >/dev/null || need+=(cpio)
command -v depmod >/dev/null || need+=(kmod)
if ((${#need[@]})); then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

# The kernel: the image package linux-image-amd64 points at, unpacked once.
if [ ! -f "$cache/kernel.version" ]; then
    package=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-6/ {print $2; exit}')
    [ -n "$package" ] || { apt-get update -qq; package=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-6/ {print $2; exit}'); }
    rm -rf "$cache/kernel" && mkdir -p "$cache/kernel"
    (cd "$cache" && apt-get download -qq "$package" 2>/dev/null && dpkg-deb -x ./"$package"_*.deb kernel && rm -f ./"$package"_*.deb)
    version=$(ls "$cache/kernel/lib/modules")
    depmod -b "$cache/kernel" "$version"
    echo "$version" >"$cache/kernel.version"
fi
version=$(cat "$cache/kernel.version")
modroot="$cache/kernel/lib/modules/$version"

stamp=$(cat "$here/prepare.sh" "$here/init.sh" "$cache/kernel.version" | sha256sum | cut -c1-16)
if [ "$(cat "$cache/initrd.stamp" 2>/dev/null)" != "$stamp" ]; then
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    mkdir -p "$work"/{bin,dev,proc,sys,host,tmp,lib/modules}
    cp /bin/busybox "$work/bin/busybox"
    for tool in sh mount umount mkdir cat echo ls insmod sleep poweroff readlink basename \
                chroot grep sed tr head printf date mknod ln cut test seq wc; do
        ln -s busybox "$work/bin/$tool"
    done
    cp "$here/init.sh" "$work/init"
    chmod +x "$work/init"
    # Modules in dependency order, from modules.dep.
    wanted="vfio_iommu_type1 vfio-pci 9p 9pnet_virtio virtio_pci"
    declare -A seen=()
    order=()
    add() {
        local name=$1 path deps dep
        path=$(awk -v m="/$name.ko:" 'index($0, m) { sub(":.*", ""); print; exit }' "$modroot/modules.dep")
        [ -n "$path" ] || { echo "prepare: module $name not found" >&2; exit 1; }
        [ -n "${seen[$path]:-}" ] && return
        seen[$path]=1
        deps=$(awk -v p="$path:" '$1 == p { $1 = ""; print; exit }' "$modroot/modules.dep")
        for dep in $deps; do
            add "$(basename "$dep" .ko)"
        done
        order+=("$path")
    }
    for m in $wanted; do add "$m"; done
    for path in "${order[@]}"; do
        cp "$modroot/$path" "$work/lib/modules/"
        basename "$path" >>"$work/lib/modules/load-order"
    done
    (cd "$work" && find . | cpio -o -H newc --quiet | gzip -1) >"$cache/initrd.gz.new"
    mv "$cache/initrd.gz.new" "$cache/initrd.gz"
    cp "$cache/kernel/boot/vmlinuz-$version" "$cache/vmlinuz"
    echo "$stamp" >"$cache/initrd.stamp"
fi
echo "$cache"
