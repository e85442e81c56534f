//! Records which DPDK the application is being built against.
//!
//! `dpdk-sys` found DPDK with pkg-config and passed what it found to its direct
//! dependants as `DEP_DPDK_*`. This script turns that into compile-time constants
//! of the umbrella crate (see `dpdk::build_info`), so an application can print
//! it and check at run time that the loaded DPDK is the one it was built for:
//! DPDK breaks its ABI between LTS lines, and a mismatch otherwise shows up as
//! memory corruption, not as an error.

fn main() {
    for (key, var) in [
        ("VERSION", "DPDK_RS_BUILD_VERSION"),
        ("ORIGIN", "DPDK_RS_BUILD_ORIGIN"),
        ("INCLUDE", "DPDK_RS_BUILD_INCLUDE"),
        ("LIBDIR", "DPDK_RS_BUILD_LIBDIR"),
        ("DRIVER_STRUCTS", "DPDK_RS_BUILD_DRIVER_STRUCTS"),
        ("PCI_MMIO", "DPDK_RS_BUILD_PCI_MMIO"),
    ] {
        let dep = format!("DEP_DPDK_{key}");
        let value = std::env::var(&dep)
            .unwrap_or_else(|_| panic!("{dep} is not set: dpdk-sys must be a direct dependency"));
        println!("cargo:rustc-env={var}={value}");
        println!("cargo:rerun-if-env-changed={dep}");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
