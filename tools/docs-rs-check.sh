#!/usr/bin/env bash
# Documentation the way docs.rs builds it: DOCS_RS set and no DPDK anywhere
# (pkg-config replaced by `false`). dpdk-sys then uses its pregenerated
# bindings (sys/pregenerated/, compared with the generator by
# sys/tests/pregenerated.rs). The safe API's pages must be the same set as in
# the ordinary documentation build against the installed DPDK.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/.."
target=${CARGO_TARGET_DIR:-$PWD/target}
crates=(-p dpdk -p dpdk-safe -p dpdk-sys)

RUSTDOCFLAGS="-D warnings" cargo doc "${crates[@]}" --no-deps --quiet
mkdir -p "$target/docs-rs"
if ! DOCS_RS=1 PKG_CONFIG=false CARGO_TARGET_DIR="$target/docs-rs" RUSTDOCFLAGS="-D warnings" \
    cargo doc "${crates[@]}" --no-deps --quiet >"$target/docs-rs/build.log" 2>&1; then
    cat "$target/docs-rs/build.log" >&2
    echo "docs-rs-check: the DOCS_RS documentation build failed" >&2
    exit 1
fi
grep '^warning: dpdk-sys@' "$target/docs-rs/build.log" || true

pages() { (cd "$1/doc" && find dpdk dpdk_safe -name '*.html' | sort); }
if ! diff <(pages "$target") <(pages "$target/docs-rs") >"$target/docs-rs/pages.diff"; then
    echo "docs-rs-check: the DOCS_RS documentation lacks or adds pages:" >&2
    cat "$target/docs-rs/pages.diff" >&2
    exit 1
fi
echo "DOCS_RS documentation: $(pages "$target/docs-rs" | wc -l) pages of dpdk and dpdk-safe, as in the build against DPDK"
