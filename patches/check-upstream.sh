#!/usr/bin/env bash
# Checks the upstream form of the series (patches/upstream/) the way DPDK's
# maintainers do, against a git checkout of upstream DPDK:
#
# 1. `git am` applies every patch to the commit recorded in
#    patches/upstream/BASE, without fuzz (git am refuses fuzz).
# 2. DPDK's own devtools/check-git-log.sh over the applied commits: subject
#    format, component prefix, line lengths, tag order, and that each Fixes:
#    tag names a commit of upstream's history with its exact subject.
# 3. DPDK's own devtools/checkpatches.sh over the patch files, with the Linux
#    kernel's checkpatch.pl taken from Debian's linux-source-6.1 package and
#    codespell's dictionary from Debian's codespell package (tools/setup.sh).
#
# The series carries no Signed-off-by: whoever sends it signs it off
# (patches/README.md). DPDK's checks require one, by a name in DPDK's
# .mailmap; so the check signs the commits off in its scratch clone as a
# placeholder sender, "Patch Sender <sender@example.invalid>", whom it adds to
# that clone's .mailmap. Nothing else is changed before the checks run.
#
# The upstream git is $DPDK_UPSTREAM_GIT (default: the mirror this machine
# keeps of github's DPDK/dpdk). Without one, the check says so and exits 77.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
: "${DPDK_RS_CACHE:=/var/cache/dpdk-rs}"
: "${DPDK_UPSTREAM_GIT:=/work/.mirror/DPDK+dpdk/repo}"
base=$(cat "$here/upstream/BASE")
patches=("$here"/upstream/*.patch)
n=${#patches[@]}

if ! git -C "$DPDK_UPSTREAM_GIT" cat-file -e "$base^{commit}" 2>/dev/null; then
    echo "check-upstream: no upstream DPDK git with $base at $DPDK_UPSTREAM_GIT"
    exit 77
fi

# checkpatch.pl and the files it reads beside itself, from Debian's kernel source.
cp_dir="$DPDK_RS_CACHE/checkpatch"
if [ ! -x "$cp_dir/scripts/checkpatch.pl" ]; then
    tarball=$(ls /usr/src/linux-source-*.tar.xz | head -1)
    mkdir -p "$cp_dir"
    tar -xJf "$tarball" -C "$cp_dir" --strip-components=1 --wildcards \
        '*/scripts/checkpatch.pl' '*/scripts/spelling.txt' '*/scripts/const_structs.checkpatch'
fi
dictionary=$(python3 -c 'import codespell_lib, os; print(os.path.join(os.path.dirname(codespell_lib.__file__), "data", "dictionary.txt"))' 2>/dev/null ||
    ls /usr/lib/python3/dist-packages/codespell_lib/data/dictionary.txt)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
git clone -q --shared --no-checkout "$DPDK_UPSTREAM_GIT" "$work/dpdk"
cd "$work/dpdk"
git checkout -q -b check "$base"
export GIT_AUTHOR_NAME="Patch Sender" GIT_AUTHOR_EMAIL=sender@example.invalid
export GIT_COMMITTER_NAME="$GIT_AUTHOR_NAME" GIT_COMMITTER_EMAIL="$GIT_AUTHOR_EMAIL"
git am -q "${patches[@]}" || { echo "check-upstream: FAILED: the series does not apply to $base"; exit 1; }
echo "applied $n patches to $(git log -1 --format='%h ("%s")' "$base")"
git rebase -q "$base" --exec 'git commit -q --amend --no-edit --reset-author --signoff' >/dev/null
echo "$GIT_AUTHOR_NAME <$GIT_AUTHOR_EMAIL>" >>.mailmap

status=0
echo "-- devtools/check-git-log.sh -n$n"
devtools/check-git-log.sh -n"$n" || status=1
echo "-- devtools/checkpatches.sh -n$n"
DPDK_CHECKPATCH_PATH="$cp_dir/scripts/checkpatch.pl" DPDK_CHECKPATCH_CODESPELL="$dictionary" \
    devtools/checkpatches.sh -n"$n" || status=1
((status == 0)) && echo "check-upstream: passed" || echo "check-upstream: FAILED"
exit $status
