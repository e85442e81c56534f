//! Telling rustc how to link DPDK.

use crate::probe::{self, Dpdk};

/// Libraries outside `pkg-config --libs libdpdk` that the bindings call into:
/// DPDK counts its buses among the drivers, which the public link line leaves out.
const DRIVER_LIBS: &[&str] = &["rte_bus_pci", "rte_bus_vdev"];

/// Shared libraries: the default, as distributions ship DPDK.
pub fn emit_dynamic(dpdk: &Dpdk) {
    for dir in &dpdk.link_paths {
        println!("cargo:rustc-link-search=native={}", dir.display());
    }
    for lib in &dpdk.libs {
        println!("cargo:rustc-link-lib=dylib={lib}");
    }
    for lib in DRIVER_LIBS {
        if !dpdk.libs.iter().any(|l| l == lib) {
            println!("cargo:rustc-link-lib=dylib={lib}");
        }
    }
}

/// Static archives. DPDK's drivers and buses register themselves from ELF
/// constructors that nothing references, so the archives between
/// `--whole-archive` and `--no-whole-archive` must be linked whole; the pkg-config
/// crate would flatten that grouping, so the raw link line is translated here.
pub fn emit_static(dpdk: &Dpdk) {
    let tokens = match probe::static_libs() {
        Ok(tokens) => tokens,
        Err(err) => {
            eprintln!("{err}");
            std::process::exit(1);
        }
    };
    for dir in &dpdk.link_paths {
        println!("cargo:rustc-link-search=native={}", dir.display());
    }
    for line in static_link_lines(&tokens) {
        println!("{line}");
    }
}

/// Translates a static pkg-config link line into cargo instructions.
pub fn static_link_lines(tokens: &[String]) -> Vec<String> {
    let mut whole = false;
    let mut lines = Vec::new();
    // DPDK lists its libraries twice (whole-archive first, then plainly); rustc
    // refuses one library with two sets of modifiers, so the first one wins.
    let mut seen = std::collections::HashSet::new();
    for token in tokens {
        match token.as_str() {
            "-Wl,--whole-archive" => whole = true,
            "-Wl,--no-whole-archive" => whole = false,
            t if t.starts_with("-L") => {
                lines.push(format!("cargo:rustc-link-search=native={}", &t[2..]));
            }
            t if t.starts_with("-l:lib") && t.ends_with(".a") => {
                let name = &t["-l:lib".len()..t.len() - ".a".len()];
                if !seen.insert(name.to_owned()) {
                    continue;
                }
                let modifiers = if whole {
                    ":+whole-archive,-bundle"
                } else {
                    ":-bundle"
                };
                lines.push(format!("cargo:rustc-link-lib=static{modifiers}={name}"));
            }
            t if t.starts_with("-l") => {
                let name = &t[2..];
                if !seen.insert(name.to_owned()) {
                    continue;
                }
                // DPDK's own libraries come as archives; system libraries stay shared.
                let kind = if name.starts_with("rte_") {
                    "static:-bundle"
                } else {
                    "dylib"
                };
                lines.push(format!("cargo:rustc-link-lib={kind}={name}"));
            }
            t if t.starts_with("-Wl,") || t == "-pthread" => {
                lines.push(format!("cargo:rustc-link-arg={t}"));
            }
            _ => {}
        }
    }
    lines
}
