//! Undoing what `cargo run` (the `cargo xtask` alias) adds to the environment,
//! for the cargo commands xtask starts: cargo puts the target directory and
//! the toolchain's libraries before LD_LIBRARY_PATH, and build scripts that
//! watch it (clang-sys) would rebuild bindgen and dpdk-sys for that alone.

use std::path::Path;
use std::process::Command;

/// LD_LIBRARY_PATH without the entries under `target` (the directory holding
/// xtask's executable, and its deps/) or under `toolchain`; `None` when no
/// entry is left (the caller's was unset).
pub fn strip_library_path(value: &str, target: &Path, toolchain: Option<&Path>) -> Option<String> {
    let kept: Vec<&str> = value
        .split(':')
        .filter(|e| {
            let p = Path::new(e);
            !(p == target
                || p == target.join("deps")
                || toolchain.is_some_and(|t| p.starts_with(t)))
        })
        .collect();
    (!kept.is_empty()).then(|| kept.join(":"))
}

/// Gives `cmd` the environment xtask's caller had, as far as `cargo run` changed it.
pub fn restore_env(cmd: &mut Command) {
    // cargo run sets CARGO_MANIFEST_DIR (and CARGO_PKG_*) for the program it runs.
    if std::env::var_os("CARGO_MANIFEST_DIR").is_none() {
        return;
    }
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        if key.starts_with("CARGO_PKG_")
            || key.starts_with("CARGO_MANIFEST_")
            || key == "CARGO_CRATE_NAME"
        {
            cmd.env_remove(&*key);
        }
    }
    // CARGO: TOOLCHAIN/bin/cargo.
    let toolchain = std::env::var_os("CARGO").and_then(|c| {
        Path::new(&c)
            .parent()
            .and_then(Path::parent)
            .map(Path::to_path_buf)
    });
    cmd.env_remove("CARGO");
    let (Ok(exe), Some(value)) = (std::env::current_exe(), std::env::var_os("LD_LIBRARY_PATH"))
    else {
        return;
    };
    let Some(target) = exe.parent() else { return };
    match strip_library_path(&value.to_string_lossy(), target, toolchain.as_deref()) {
        Some(v) => cmd.env("LD_LIBRARY_PATH", v),
        None => cmd.env_remove("LD_LIBRARY_PATH"),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cargo_runs_entries_go_the_callers_stay() {
        let t = Path::new("/w/target/debug");
        let tc = Path::new("/r/toolchains/stable-x86_64-unknown-linux-gnu");
        let added = "/w/target/debug:/w/target/debug/deps:/r/toolchains/stable-x86_64-unknown-linux-gnu/lib/rustlib/x86_64-unknown-linux-gnu/lib:/r/toolchains/stable-x86_64-unknown-linux-gnu/lib";
        assert_eq!(strip_library_path(added, t, Some(tc)), None);
        assert_eq!(
            strip_library_path(&format!("{added}:/opt/dpdk/lib"), t, Some(tc)),
            Some("/opt/dpdk/lib".into())
        );
        assert_eq!(
            strip_library_path("/w/target/debug/deps:/w/target/debugx", t, None),
            Some("/w/target/debugx".into())
        );
    }
}
