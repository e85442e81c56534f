//! DPDK version differences reach the safe crate only through here: `dpdk-sys`
//! decides them (its build script's `features` module) and reports them as
//! `DEP_DPDK_*`; this turns them into cfgs.
//!
//! - `dpdk_pci_driver`: Rust PCI drivers (`pci::driver`), when dpdk-sys has the
//!   driver structures (generated from an installed SDK header, or by hand for a
//!   release whose layouts were checked).
//! - `dpdk_pci_mmio`: DPDK has `rte_pci_mmio_read`/`write` (23.07+), used by
//!   `pci::driver::DpdkBar`; without it, `pread64`/`pwrite64` on the VFIO fd.

fn main() {
    let var = |key: &str| std::env::var(format!("DEP_DPDK_{key}")).unwrap_or_default();
    println!("cargo:rustc-check-cfg=cfg(dpdk_pci_driver)");
    println!("cargo:rustc-check-cfg=cfg(dpdk_pci_mmio)");
    if matches!(var("DRIVER_STRUCTS").as_str(), "generated" | "by-hand") {
        println!("cargo:rustc-cfg=dpdk_pci_driver");
    }
    if var("PCI_MMIO") == "true" {
        println!("cargo:rustc-cfg=dpdk_pci_mmio");
    }
    for key in ["VERSION", "DRIVER_STRUCTS", "PCI_MMIO"] {
        println!("cargo:rerun-if-env-changed=DEP_DPDK_{key}");
    }
}
