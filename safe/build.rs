//! DPDK version differences reach the safe crate only through here: `dpdk-sys`
//! decides them (its build script's `features` module) and reports them as
//! `DEP_DPDK_*`; this turns them into cfgs.
//!
//! - `dpdk_pci_driver`: Rust PCI drivers (`pci::driver`), when dpdk-sys has the
//!   driver structures (generated from an installed SDK header, or by hand for a
//!   release whose layouts were checked).
//! - `dpdk_pci_mmio`: DPDK has `rte_pci_mmio_read`/`write` (23.07+), used by
//!   `pci::driver::DpdkBar`; without it, `pread64`/`pwrite64` on the VFIO fd.
//! - `dpdk_rte_vfio`: `rte_vfio_setup_device` and its siblings are public
//!   (up to DPDK 26.07), so `VfioBackend::Dpdk` is available.
//! - `dpdk_eal_argparse`: the EAL parses its options with `rte_argparse`, which
//!   exits the process on a bad one (25.11+), so `EalBuilder` reads them first.
//! - `dpdk_eth_fast_path`: dpdk-sys has `rte_eth_fp_ops` for a release whose
//!   inline bursts were read, so `RxQueue`/`TxQueue` burst in Rust over it;
//!   without it, through the shim.

fn main() {
    let var = |key: &str| std::env::var(format!("DEP_DPDK_{key}")).unwrap_or_default();
    println!("cargo:rustc-check-cfg=cfg(dpdk_pci_driver)");
    println!("cargo:rustc-check-cfg=cfg(dpdk_pci_mmio)");
    println!("cargo:rustc-check-cfg=cfg(dpdk_rte_vfio)");
    println!("cargo:rustc-check-cfg=cfg(dpdk_eal_argparse)");
    println!("cargo:rustc-check-cfg=cfg(dpdk_eth_fast_path)");
    if var("ETH_FAST_PATH") == "true" {
        println!("cargo:rustc-cfg=dpdk_eth_fast_path");
    }
    if var("EAL_ARGPARSE") == "true" {
        println!("cargo:rustc-cfg=dpdk_eal_argparse");
    }
    if var("RTE_VFIO") == "true" {
        println!("cargo:rustc-cfg=dpdk_rte_vfio");
    }
    if matches!(var("DRIVER_STRUCTS").as_str(), "generated" | "by-hand") {
        println!("cargo:rustc-cfg=dpdk_pci_driver");
    }
    if var("PCI_MMIO") == "true" {
        println!("cargo:rustc-cfg=dpdk_pci_mmio");
    }
    for key in [
        "VERSION",
        "DRIVER_STRUCTS",
        "PCI_MMIO",
        "RTE_VFIO",
        "EAL_ARGPARSE",
        "ETH_FAST_PATH",
    ] {
        println!("cargo:rerun-if-env-changed=DEP_DPDK_{key}");
    }
}
