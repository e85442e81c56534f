#!/bin/sh
# Makes the kernel run aarch64 ELF binaries through qemu-aarch64 (user-mode
# emulation, Debian's qemu-user-static), also inside chroots: the entry is
# registered with the F flag, so the kernel opens the interpreter now, from
# this root. Idempotent; run as root (tools/setup.sh). Registers from
# qemu-user-static's own description in /usr/share/binfmts (binfmt-support,
# which would read it, is not needed).
set -eu
dir=/proc/sys/fs/binfmt_misc
[ -f "$dir/register" ] || mount -t binfmt_misc binfmt_misc "$dir"
if [ -f "$dir/qemu-aarch64" ]; then
    grep -qx enabled "$dir/qemu-aarch64" && exit 0
    echo 1 >"$dir/qemu-aarch64"
    exit 0
fi
spec=/usr/share/binfmts/qemu-aarch64
[ -f "$spec" ] || { echo "aarch64/binfmt: $spec missing (apt install qemu-user-static)" >&2; exit 1; }
field() { sed -n "s/^$1 //p" "$spec"; }
flags=F
[ "$(field preserve)" = yes ] && flags=${flags}P
printf ':qemu-aarch64:M:%s:%s:%s:%s:%s' "$(field offset)" "$(field magic)" "$(field mask)" \
    "$(field interpreter)" "$flags" >"$dir/register"
