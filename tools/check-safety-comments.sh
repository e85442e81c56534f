#!/usr/bin/env bash
# Every `unsafe` block or impl in the project's Rust code carries a `// SAFETY:`
# comment on one of the four lines before it (or on its own line). The
# bindings bindgen wrote (sys/pregenerated/) are generated, not written.
set -euo pipefail
cd "$(dirname "$0")/.."
missing=$(git ls-files '*.rs' ':!sys/pregenerated/' | xargs awk '
    FNR == 1 { delete recent }
    /unsafe[ ]*(\{|impl)/ && !/^[ ]*\/\// {
        found = ($0 ~ /SAFETY/)
        for (i = 1; i <= 4; i++) if (recent[(FNR - i) % 5] ~ /SAFETY/) found = 1
        if (!found) printf "%s:%d: %s\n", FILENAME, FNR, $0
    }
    { recent[FNR % 5] = $0 }')
if [ -n "$missing" ]; then
    echo "unsafe without a SAFETY comment:"; echo "$missing"; exit 1
fi
echo "every unsafe block has a SAFETY comment"
