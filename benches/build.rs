//! Compiles the C baseline (`c/baseline.c`) with `cc` and DPDK's own cflags
//! (`pkg-config --cflags libdpdk`), as a C program using DPDK is compiled.
//! `CC` and `CFLAGS` are honoured as for any `cc` build, which is how
//! `tools/bench.sh` builds the cross-language LTO variant (`CC=clang
//! CFLAGS=-flto=thin`).

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=c/baseline.c");
    println!("cargo:rerun-if-changed=build.rs");
    for var in [
        "PKG_CONFIG",
        "PKG_CONFIG_PATH",
        "PKG_CONFIG_LIBDIR",
        "PKG_CONFIG_SYSROOT_DIR",
    ] {
        println!("cargo:rerun-if-env-changed={var}");
    }
    let pkg_config = std::env::var("PKG_CONFIG").unwrap_or_else(|_| "pkg-config".to_owned());
    let out = Command::new(&pkg_config)
        .args(["--cflags", "libdpdk"])
        .output()
        .unwrap_or_else(|e| panic!("running {pkg_config}: {e}"));
    assert!(
        out.status.success(),
        "pkg-config --cflags libdpdk failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cflags = String::from_utf8(out.stdout).expect("UTF-8 cflags");
    let mut build = cc::Build::new();
    build
        .file("c/baseline.c")
        .opt_level(2)
        .define("_GNU_SOURCE", None)
        .warnings(false);
    // DPDK is built with large-file support; say so on 32-bit targets too.
    if std::env::var("CARGO_CFG_TARGET_POINTER_WIDTH").as_deref() == Ok("32") {
        build.define("_FILE_OFFSET_BITS", "64");
    }
    let mut words = cflags.split_whitespace();
    while let Some(word) = words.next() {
        if word == "-include" {
            if let Some(file) = words.next() {
                build.flag("-include").flag(file);
            }
        } else {
            build.flag(word);
        }
    }
    build.compile("bench_baseline");
}
