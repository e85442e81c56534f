//! DPDK version differences, in one place: `dpdk-sys` reports the DPDK it built
//! against (`DEP_DPDK_VERSION`), and this turns it into cfgs for the safe crate.

fn main() {
    let version = std::env::var("DEP_DPDK_VERSION").expect("dpdk-sys sets DEP_DPDK_VERSION");
    let driver_sdk = std::env::var("DEP_DPDK_DRIVER_SDK").is_ok_and(|v| v == "true");
    println!("cargo:rustc-check-cfg=cfg(dpdk_pci_driver)");
    // Rust PCI drivers need dpdk-sys's driver SDK structures: generated from an
    // installed bus_pci_driver.h, or declared by hand for 22.11 (ABI 23).
    if driver_sdk || version.starts_with("22.11") {
        println!("cargo:rustc-cfg=dpdk_pci_driver");
    }
    println!("cargo:rerun-if-env-changed=DEP_DPDK_VERSION");
    println!("cargo:rerun-if-env-changed=DEP_DPDK_DRIVER_SDK");
}
