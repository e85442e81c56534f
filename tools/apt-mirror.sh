#!/usr/bin/env bash
# Prints the Debian archive this machine's apt is configured with (the first
# `deb` source whose path ends in /debian, from deb822 .sources files or the
# one-line sources.list format), so that debootstrap and deb-src entries use the
# same mirror as apt-get. Fails with a message when none is configured.
set -euo pipefail
mirror=$(
    {
        # deb822: a URIs line inside a stanza whose Types include deb.
        for f in /etc/apt/sources.list.d/*.sources; do
            [ -f "$f" ] || continue
            awk '/^[[:space:]]*$/ { deb = 0 }
                 /^Types:/ { deb = ($0 ~ /(^|[[:space:]])deb([[:space:]]|$)/) }
                 /^URIs:/ && deb { for (i = 2; i <= NF; i++) print $i }' "$f"
        done
        # one-line format: deb [options] URI suite components
        for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
            [ -f "$f" ] || continue
            awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; break } }' "$f"
        done
    } | { grep -E '/debian/?$' || true; } | head -1
)
[ -n "$mirror" ] || { echo "apt-mirror: no Debian archive (.../debian) in this machine's apt sources" >&2; exit 1; }
echo "${mirror%/}"
