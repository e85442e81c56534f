//! The bindings checked in for documentation builds without DPDK
//! (`pregenerated/bindings.rs`, used when `DOCS_RS` is set) are exactly what
//! the build script generates today for the DPDK they name.
//!
//! Where this build's DPDK, origin and target are the ones named in the file's
//! first line (Debian 12's DPDK 22.11 on x86_64), the file must equal this
//! build's `OUT_DIR/bindings.rs` byte for byte. With `DPDK_SYS_BLESS=1` the
//! test writes the file instead (after a bindgen or DPDK upgrade).

use std::path::Path;

/// Same text as `KEY_PREFIX` in `build/docs_rs.rs`.
const KEY_PREFIX: &str = "// dpdk-sys pregenerated bindings for: ";

fn checked_in() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("pregenerated/bindings.rs")
}

#[test]
fn pregenerated_bindings_match_the_generator() {
    let generated = std::fs::read_to_string(concat!(env!("OUT_DIR"), "/bindings.rs")).unwrap();
    let key = env!("DPDK_SYS_BINDINGS_KEY");
    if std::env::var_os("DPDK_SYS_BLESS").is_some() {
        std::fs::create_dir_all(checked_in().parent().unwrap()).unwrap();
        std::fs::write(checked_in(), format!("{KEY_PREFIX}{key}\n{generated}")).unwrap();
        eprintln!("wrote {} for {key}", checked_in().display());
        return;
    }
    let text = std::fs::read_to_string(checked_in()).unwrap();
    let (first, body) = text
        .split_once('\n')
        .expect("a key line, then the bindings");
    let named = first
        .strip_prefix(KEY_PREFIX)
        .unwrap_or_else(|| panic!("first line {first:?} does not start with {KEY_PREFIX:?}"));
    if release_key(named) != release_key(key) {
        // Another DPDK or target (i686, Debian 13's 24.11, a patched build):
        // its bindings differ by design; the comparison runs on the named one.
        eprintln!("this build is for {key}; the checked-in bindings are for {named}: not compared");
        return;
    }
    if body != generated {
        let line = body
            .lines()
            .zip(generated.lines())
            .position(|(a, b)| a != b)
            .map_or_else(|| "their lengths".to_owned(), |n| format!("line {}", n + 2));
        panic!(
            "{} differs from what the build script generates for {key} (first at {line}); \
             regenerate it with DPDK_SYS_BLESS=1 cargo test -p dpdk-sys --test pregenerated",
            checked_in().display()
        );
    }
}

/// The key without the patch number: a point release of the named DPDK is
/// compared too, so a header change in it fails here until the file is
/// regenerated.
fn release_key(key: &str) -> String {
    let mut words: Vec<String> = key.split(' ').map(str::to_owned).collect();
    if let Some(version) = words.get_mut(1) {
        *version = version.split('.').take(2).collect::<Vec<_>>().join(".");
    }
    words.join(" ")
}

/// The key line is what the DOCS_RS build reads the DPDK version from.
#[test]
fn pregenerated_bindings_name_a_supported_dpdk() {
    let text = std::fs::read_to_string(checked_in()).unwrap();
    let first = text.lines().next().unwrap();
    let key = first.strip_prefix(KEY_PREFIX).unwrap();
    let version = key
        .strip_prefix("DPDK ")
        .unwrap()
        .split(' ')
        .next()
        .unwrap();
    assert!(
        version.starts_with("22.11.") || version.starts_with("24.11."),
        "{key}"
    );
    assert!(key.ends_with("x86_64-unknown-linux-gnu"), "{key}");
}
