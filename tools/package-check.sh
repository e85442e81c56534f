#!/usr/bin/env bash
# The crates as crates.io would get them: `cargo package` (with its
# verification build) and `cargo publish --dry-run` for dpdk-sys, dpdk-safe and
# dpdk, in dependency order; then an application outside the workspace, built
# against the unpacked tarballs only, runs over a fake sysfs tree.
#
# crates.io already has crates named `dpdk-sys` (0.1.0 to 0.1.5) and `dpdk`
# from another project. Left alone, the verification build of dpdk-safe would
# resolve `dpdk-sys = "0.1.0"` to that crate. Each step therefore patches the
# crates.io names to the tarballs packed in the steps before it, so every
# crate is verified against exactly what was packed before it.
#
# Prints each tarball's size. Usage: tools/package-check.sh [--keep DIR]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/.."

work=$(mktemp -d /tmp/dpdk-package.XXXXXX)
keep=""
if [[ "${1:-}" == "--keep" && -n "${2:-}" ]]; then
    keep=$2
    mkdir -p "$keep"
fi
# The --config patches below are recorded in the work tree's Cargo.lock as
# unused; it gets its own contents back whatever happens.
cp Cargo.lock "$work/Cargo.lock.saved"
finish() {
    cp "$work/Cargo.lock.saved" Cargo.lock
    if [[ -n $keep ]]; then cp -r "$work"/. "$keep"/; fi
    rm -rf "$work"
}
trap finish EXIT
target=${CARGO_TARGET_DIR:-$PWD/target}
# Uncommitted changes are packed too, so the check runs on a work tree as it is.
flags=(--allow-dirty)

log="$work/cargo.log"
# Runs one cargo command; shows its summary lines, or all of it when it fails.
run() {
    if ! "$@" >"$log" 2>&1; then
        cat "$log" >&2
        echo "package-check: \`$*\` failed" >&2
        exit 1
    fi
    grep -E '^ *(Packaged|Verifying|Uploading|warning: aborting)' "$log" || true
}

patches=()
for crate in dpdk-sys dpdk-safe dpdk; do
    printf -- '-- %s\n' "$crate"
    run cargo package "${flags[@]}" -p "$crate" "${patches[@]}"
    run cargo publish --dry-run "${flags[@]}" -p "$crate" "${patches[@]}"
    tarball="$target/package/$crate-0.1.0.crate"
    printf '%s: %s bytes\n' "$(basename "$tarball")" "$(stat -c %s "$tarball")"
    tar -xzf "$tarball" -C "$work"
    patches+=(--config "patch.crates-io.$crate.path=\"$work/$crate-0.1.0\"")
done

printf -- '-- an application outside the workspace, on the packed crates\n'
app="$work/outside-app"
cp -r "$here/outside-app" "$app"
{
    echo
    echo "[patch.crates-io]"
    for crate in dpdk-sys dpdk-safe dpdk; do
        echo "$crate = { path = \"$work/$crate-0.1.0\" }"
    done
} >>"$app/Cargo.toml"
# The work tree's lock file pins the same versions of the registry crates, so
# those already built in the shared target directory are reused; the packed
# crates and the application are units of their own there (other paths).
cp Cargo.lock "$app/Cargo.lock"
(cd "$app" && CARGO_TARGET_DIR="$target" cargo run --quiet)
