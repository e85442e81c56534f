//! Build script of `dpdk-sys`: find DPDK, generate the bindings, build the shim.
//!
//! Every step is explained in the crate documentation (`src/lib.rs`).

mod bindings;
mod docs_rs;
mod features;
mod link;
mod machine;
mod mbuf_fields;
mod probe;

use std::env;
use std::path::PathBuf;

fn main() {
    let target = Target::from_env();
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let manifest_dir =
        PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    println!("cargo:rerun-if-env-changed=DOCS_RS");
    if env::var_os("DOCS_RS").is_some() {
        if let Err(err) = docs_rs::emit(&manifest_dir, &out_dir) {
            eprintln!("{err}");
            std::process::exit(1);
        }
        // The mbuf field accessors come from the bindings, pregenerated ones too.
        if let Err(err) = mbuf_fields::generate(
            &out_dir.join("bindings.rs"),
            &out_dir.join("mbuf_fields.rs"),
        ) {
            eprintln!("dpdk-sys: {err}");
            std::process::exit(1);
        }
        return;
    }
    let dpdk = match probe::find_dpdk(target.is_cross()) {
        Ok(dpdk) => dpdk,
        Err(err) => {
            // One clear message, then stop: cargo shows stderr of a failed build script.
            eprintln!("{err}");
            std::process::exit(1);
        }
    };
    // The machine flags DPDK exports must be for the target's architecture.
    let foreign = machine::foreign_flags(&target.arch, &dpdk.cflags);
    if !foreign.is_empty() {
        eprintln!("{}", machine::foreign_flags_message(&target.arch, &foreign));
        std::process::exit(1);
    }
    println!(
        "cargo:warning=dpdk-sys: building against DPDK {} from {} ({})",
        dpdk.version,
        dpdk.prefix_description(),
        dpdk.origin
    );

    if let Err(err) = bindings::generate(&dpdk, &target, &manifest_dir, &out_dir) {
        eprintln!("{err}");
        std::process::exit(1);
    }
    if let Err(err) = mbuf_fields::generate(
        &out_dir.join("bindings.rs"),
        &out_dir.join("mbuf_fields.rs"),
    ) {
        eprintln!("dpdk-sys: {err}");
        std::process::exit(1);
    }
    // After the shim, so the linker sees its references to DPDK before DPDK's libraries.
    if env::var_os("CARGO_FEATURE_STATIC").is_some() {
        link::emit_static(&dpdk);
    } else {
        link::emit_dynamic(&dpdk);
    }

    // The driver SDK structures: generated where the header is installed.
    let sdk_header = dpdk.driver_sdk_header();
    if let Some(header) = &sdk_header {
        if let Err(err) = bindings::generate_driver_sdk(&dpdk, &target, header, &out_dir) {
            eprintln!("{err}");
            std::process::exit(1);
        }
    }
    // Without the fast-path table the safe crate keeps the shim: a warning, not an error.
    if let Err(err) = bindings::generate_eth_fast_path(&dpdk, &target, &out_dir) {
        println!("cargo:warning=dpdk-sys: no Rust fast path (the shim's calls instead): {err}");
        let _ = std::fs::remove_file(out_dir.join("eth_fast_path.rs"));
    }
    features::Features::detect(
        &dpdk.version,
        sdk_header.is_some(),
        &out_dir.join("bindings.rs"),
        &out_dir.join("eth_fast_path.rs"),
    )
    .emit();

    // Metadata for dependants, visible to them as DEP_DPDK_<KEY>.
    println!("cargo:version={}", dpdk.version);
    println!("cargo:version_number={}", dpdk.version_number());
    println!(
        "cargo:include={}",
        env::join_paths(&dpdk.include_paths)
            .unwrap()
            .to_string_lossy()
    );
    println!(
        "cargo:libdir={}",
        env::join_paths(&dpdk.link_paths).unwrap().to_string_lossy()
    );
    println!("cargo:origin={}", dpdk.origin);
    println!("cargo:driver_sdk={}", dpdk.driver_sdk_header().is_some());
    // For this crate's own tests, which inspect the library files.
    if let Some(libdir) = dpdk.link_paths.last() {
        println!("cargo:rustc-env=DPDK_SYS_LIBDIR={}", libdir.display());
    }
    // What these bindings were generated for (tests/pregenerated.rs).
    println!(
        "cargo:rustc-env=DPDK_SYS_BINDINGS_KEY={}",
        docs_rs::bindings_key(&dpdk.version, &dpdk.origin.to_string(), &target.triple)
    );

    println!("cargo:rerun-if-changed=build");
    println!("cargo:rerun-if-changed=src/shim.c");
    println!("cargo:rerun-if-changed=src/shim.h");
    println!("cargo:rerun-if-env-changed=LIBCLANG_PATH");
    println!("cargo:rerun-if-env-changed=BINDGEN_EXTRA_CLANG_ARGS");
    // A DPDK upgrade rewrites rte_version.h; that is the one header worth watching.
    if let Some(header) = dpdk.find_header("rte_version.h") {
        println!("cargo:rerun-if-changed={}", header.display());
    }
}

/// What we are building for, read once from cargo's environment.
pub struct Target {
    /// The target triple (cargo's `TARGET`), e.g. `i686-unknown-linux-gnu`.
    pub triple: String,
    /// The host triple (cargo's `HOST`); differs from `triple` when cross-compiling.
    pub host: String,
    /// Bus-specific text about the device, or null.
    pub pointer_width: u32,
    /// `CARGO_CFG_TARGET_ARCH`: `x86_64`, `x86`, `aarch64`...
    pub arch: String,
}

impl Target {
    fn from_env() -> Self {
        let triple = env::var("TARGET").expect("cargo sets TARGET");
        let host = env::var("HOST").expect("cargo sets HOST");
        let pointer_width = env::var("CARGO_CFG_TARGET_POINTER_WIDTH")
            .ok()
            .and_then(|w| w.parse().ok())
            .unwrap_or(64);
        let arch = env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
        Target {
            triple,
            host,
            pointer_width,
            arch,
        }
    }

    fn is_cross(&self) -> bool {
        self.triple != self.host
    }

    /// Flags that make C's `off_t` 64 bits wide, as in DPDK's own build.
    ///
    /// DPDK's meson build compiles every file with `-D_FILE_OFFSET_BITS=64`, but
    /// `libdpdk.pc` does not export it. Without it, a 32-bit consumer sees a 32-bit
    /// `off_t` in `rte_pci_read_config()` and friends while the library reads 64 bits.
    pub fn large_file_defines(&self) -> &'static [&'static str] {
        if self.pointer_width == 32 {
            &["-D_FILE_OFFSET_BITS=64", "-D_LARGEFILE64_SOURCE"]
        } else {
            &[]
        }
    }
}
