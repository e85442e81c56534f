#!/usr/bin/env bash
# Prepares the test VM's kernel and initramfs under ${DPDK_RS_CACHE:-/var/cache/dpdk-rs}/vm:
#
#   kernel/          Debian 12's newest linux-image-6.1.0-N-amd64, unpacked (not installed)
#   kernel.version   its version (written last: the unpacked tree is complete)
#   vmlinuz          the kernel image (bzImage)
#   vmlinux          the same, uncompressed: what QEMU boots (PVH entry, faster)
#   initrd.gz        busybox, the VFIO and 9p-over-virtio modules, init.sh as /init
#   initrd.stamp     hash of what initrd.gz was built from (this script, init.sh,
#                    kernel version, busybox): a change rebuilds it
#
# Idempotent: a second run only checks the stamp. Installs its own Debian
# prerequisites when missing (needs root then). Prints where things are; with -q,
# prints only what it had to (re)build.
#
#   tools/vm/prepare.sh [-q]
#
# To move to a newer kernel, remove $DPDK_RS_CACHE/vm/kernel.version.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
quiet=0
[ "${1:-}" = -q ] && quiet=1
cache="${DPDK_RS_CACHE:-/var/cache/dpdk-rs}/vm"
mkdir -p "$cache"
say() { echo "vm: $*"; }

# One preparation at a time: parallel runs wait here, then find the work done.
exec 9>"$cache/.lock"
flock 9

# Prerequisites, by Debian package.
missing=()
command -v qemu-system-x86_64 >/dev/null || missing+=(qemu-system-x86)
dpkg-query -W -f '${Status}' busybox-static 2>/dev/null | grep -q 'ok installed' ||
    missing+=(busybox-static)
command -v cpio >/dev/null || missing+=(cpio)
command -v depmod >/dev/null || missing+=(kmod)
command -v xz >/dev/null || missing+=(xz-utils)
if ((${#missing[@]})); then
    [ "$(id -u)" = 0 ] || { echo "prepare.sh: missing ${missing[*]}; install them as root" >&2; exit 1; }
    say "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q "${missing[@]}" >/dev/null ||
        { apt-get update -q >/dev/null && apt-get install -y -q "${missing[@]}" >/dev/null; }
fi

# The kernel: the newest Debian 12 linux-image-6.1.0-N-amd64 the package lists
# know, downloaded and unpacked once.
newest_kernel() {
    apt-cache search --names-only '^linux-image-6\.1\.0-[0-9]+-amd64$' |
        awk '{ print $1 }' | sort -V | tail -1
}
if [ ! -s "$cache/kernel.version" ] || [ ! -d "$cache/kernel/lib/modules/$(cat "$cache/kernel.version")" ]; then
    package=$(newest_kernel)
    if [ -z "$package" ]; then
        apt-get update -q >/dev/null
        package=$(newest_kernel)
    fi
    [ -n "$package" ] || { echo "prepare.sh: no linux-image-6.1.0-*-amd64 package known to apt" >&2; exit 1; }
    say "downloading $package"
    download=$(mktemp -d -p "$cache" download.XXXXXX)
    trap 'rm -rf "$download"' EXIT
    (cd "$download" && { apt-get download -q "$package" >/dev/null 2>&1 ||
        { apt-get update -q >/dev/null && apt-get download -q "$package" >/dev/null; }; })
    rm -rf "$cache/kernel" "$cache/kernel.version"
    dpkg-deb -x "$download"/"$package"_*.deb "$cache/kernel"
    rm -rf "$download"
    trap - EXIT
    version=${package#linux-image-}
    [ -f "$cache/kernel/boot/vmlinuz-$version" ] ||
        { echo "prepare.sh: $package holds no boot/vmlinuz-$version" >&2; exit 1; }
    # The package ships no modules.dep: depmod computes it for the unpacked tree.
    depmod -b "$cache/kernel" "$version"
    echo "$version" >"$cache/kernel.version"
fi
version=$(cat "$cache/kernel.version")
modules="$cache/kernel/lib/modules/$version"

# The modules init.sh loads: these and everything they depend on.
wanted=(irqbypass vfio vfio_iommu_type1 vfio_virqfd vfio-pci-core vfio-pci
        virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci
        netfs fscache 9pnet 9pnet_virtio 9p
        uio uio_pci_generic)

# QEMU boots an uncompressed vmlinux straight through its PVH entry point: no
# real-mode loader, no decompression under emulation (saves 2-4 s a boot).
# Debian xz-compresses the bzImage payload; it starts at the xz magic.
extract_vmlinux() {
    local image=$1 out=$2 offset
    grep -q '^CONFIG_PVH=y' "$cache/kernel/boot/config-$version" || return 1
    offset=$(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$image" | LC_ALL=C sed -n '1s/:.*//p')
    [ -n "$offset" ] || return 1
    # xz stops after its stream: tail's SIGPIPE is expected.
    { tail -c +$((offset + 1)) "$image" || true; } | xz -dc --single-stream >"$out" 2>/dev/null || return 1
    [ "$(head -c 4 "$out")" = $'\x7fELF' ]
}

stamp=$(cat "$here/prepare.sh" "$here/init.sh" "$cache/kernel.version" /bin/busybox | sha256sum | cut -c1-32)
if [ "$(cat "$cache/initrd.stamp" 2>/dev/null)" != "$stamp" ] || [ ! -s "$cache/initrd.gz" ] ||
   [ ! -s "$cache/vmlinuz" ]; then
    root=$(mktemp -d -p "$cache" initrd.XXXXXX)
    trap 'rm -rf "$root"' EXIT
    mkdir -p "$root"/{bin,dev,proc,sys,host,lib/modules}

    # modules.dep lines read "PATH: DEPENDENCY-PATH...", paths relative to $modules.
    # Index them by module name ('-' and '_' are the same to the kernel).
    declare -A path_of=() deps_of=() builtin=()
    while IFS= read -r line; do
        path=${line%%:*}
        name=${path##*/}
        name=${name%%.ko*}
        path_of[${name//-/_}]=$path
        deps_of[$path]=${line#*:}
    done <"$modules/modules.dep"
    while IFS= read -r path; do
        name=${path##*/}
        name=${name%%.ko*}
        builtin[${name//-/_}]=1
    done <"$modules/modules.builtin"

    # Depth first: a module comes after everything it depends on.
    declare -A placed=()
    order=()
    place() {
        local key=${1//-/_} path dep
        [ -n "${builtin[$key]:-}" ] && return
        path=${path_of[$key]:-}
        [ -n "$path" ] || { echo "prepare.sh: kernel $version has no module $1" >&2; exit 1; }
        [ -n "${placed[$path]:-}" ] && return
        placed[$path]=1
        for dep in ${deps_of[$path]}; do
            dep=${dep##*/}
            place "${dep%%.ko*}"
        done
        order+=("$path")
    }
    for m in "${wanted[@]}"; do place "$m"; done

    # busybox insmod wants plain ELF: decompress what the package compressed.
    for path in "${order[@]}"; do
        file=${path##*/}
        case "$file" in
            *.ko) cp "$modules/$path" "$root/lib/modules/$file" ;;
            *.ko.xz) xz -dc "$modules/$path" >"$root/lib/modules/${file%.xz}" ;;
            *.ko.zst) zstd -qdc "$modules/$path" >"$root/lib/modules/${file%.zst}" ;;
            *.ko.gz) gzip -dc "$modules/$path" >"$root/lib/modules/${file%.gz}" ;;
            *) echo "prepare.sh: unexpected module file $path" >&2; exit 1 ;;
        esac
        echo "${file%.ko*}.ko" >>"$root/lib/modules/load-order"
    done

    cp /bin/busybox "$root/bin/busybox"
    for applet in $(/bin/busybox --list); do
        [ "$applet" = busybox ] || ln -s busybox "$root/bin/$applet"
    done
    install -m 755 "$here/init.sh" "$root/init"

    (cd "$root" && find . -print0 | LC_ALL=C sort -z |
        cpio --null -o -H newc --owner=0:0 --quiet | gzip -6) >"$cache/initrd.gz.new"
    cp "$cache/kernel/boot/vmlinuz-$version" "$cache/vmlinuz.new"
    rm -f "$cache/vmlinux"
    if extract_vmlinux "$cache/vmlinuz.new" "$cache/vmlinux.new"; then
        mv "$cache/vmlinux.new" "$cache/vmlinux"
    else
        rm -f "$cache/vmlinux.new"
        say "no vmlinux for PVH boot could be extracted: booting the bzImage (slower)"
    fi
    mv "$cache/initrd.gz.new" "$cache/initrd.gz"
    mv "$cache/vmlinuz.new" "$cache/vmlinuz"
    echo "$stamp" >"$cache/initrd.stamp"
    rm -rf "$root"
    trap - EXIT
    names=("${order[@]##*/}")
    names=("${names[@]%%.ko*}")
    say "built initrd.gz: busybox, ${#order[@]} modules: ${names[*]}"
    quiet=0
fi

if ((!quiet)); then
    say "cache   $cache"
    kernel=$cache/vmlinux
    [ -s "$kernel" ] || kernel=$cache/vmlinuz
    say "kernel  $kernel ($version, from linux-image-$version)"
    say "initrd  $cache/initrd.gz ($(stat -c %s "$cache/initrd.gz") bytes, init: $here/init.sh)"
fi
