//! Documentation builds without DPDK (docs.rs sets `DOCS_RS`; it has no DPDK).
//!
//! Nothing is probed, generated, compiled or linked: the bindings are the ones
//! this build script wrote for one supported DPDK, checked in under
//! `pregenerated/`. `tests/pregenerated.rs` regenerates them on every test run
//! (the ordinary build writes them to `OUT_DIR`) and fails when the checked-in
//! copy differs, so it cannot drift from what the generator writes.
//!
//! The first line of the checked-in file names what it was generated for, the
//! key `DPDK_SYS_BINDINGS_KEY` of the build that wrote it: DPDK version,
//! origin and target.

use std::fmt;
use std::path::Path;

use crate::features::Features;

/// Where the checked-in bindings live, inside the package.
pub const PREGENERATED: &str = "pregenerated/bindings.rs";
/// What the first line of the checked-in file starts with; the key follows.
pub const KEY_PREFIX: &str = "// dpdk-sys pregenerated bindings for: ";

#[derive(Debug)]
pub struct DocsRsError(String);

impl fmt::Display for DocsRsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "dpdk-sys (DOCS_RS build): {}", self.0)
    }
}

/// `DPDK version, origin, target` of a build, as one line.
pub fn bindings_key(version: &str, origin: &str, target: &str) -> String {
    format!("DPDK {version} ({origin}), {target}")
}

/// Writes `OUT_DIR/bindings.rs` from the checked-in copy and emits the same
/// cfgs and `DEP_DPDK_*` metadata as a real build, for the DPDK it names.
pub fn emit(manifest_dir: &Path, out_dir: &Path) -> Result<(), DocsRsError> {
    let source = manifest_dir.join(PREGENERATED);
    let text = std::fs::read_to_string(&source)
        .map_err(|e| DocsRsError(format!("reading {}: {e}", source.display())))?;
    let (first, body) = text.split_once('\n').unwrap_or((&text, ""));
    let key = first
        .strip_prefix(KEY_PREFIX)
        .ok_or_else(|| DocsRsError(format!("{} lacks its key line", source.display())))?;
    // "DPDK 22.11.11 (distribution), x86_64-unknown-linux-gnu"
    let version = key
        .strip_prefix("DPDK ")
        .and_then(|rest| rest.split_whitespace().next())
        .ok_or_else(|| DocsRsError(format!("unreadable key line {first:?}")))?;
    let bindings = out_dir.join("bindings.rs");
    std::fs::write(&bindings, body)
        .map_err(|e| DocsRsError(format!("writing {}: {e}", bindings.display())))?;
    println!(
        "cargo:warning=dpdk-sys: DOCS_RS is set: documentation only, with the pregenerated \
         bindings for {key}; nothing is linked"
    );
    // No fast-path bindings here: the documented bursts are the shim's.
    Features::detect(version, false, &bindings, &out_dir.join("eth_fast_path.rs")).emit();
    println!("cargo:version={version}");
    let number = crate::probe::parse_version(version)
        .map(|(y, m, p)| y * 10000 + m * 100 + p)
        .unwrap_or(0);
    println!("cargo:version_number={number}");
    println!("cargo:include=");
    println!("cargo:libdir=");
    println!("cargo:origin=pregenerated");
    println!("cargo:driver_sdk=false");
    println!("cargo:rustc-env=DPDK_SYS_LIBDIR=");
    println!("cargo:rustc-env=DPDK_SYS_BINDINGS_KEY={key}");
    println!("cargo:rerun-if-changed={PREGENERATED}");
    println!("cargo:rerun-if-changed=build");
    println!("cargo:rerun-if-env-changed=DOCS_RS");
    Ok(())
}
