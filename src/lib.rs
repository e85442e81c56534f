//! Rust bindings for DPDK's EAL and VFIO PCI bus, built against the DPDK your
//! distribution ships.
//!
//! This crate is what applications import. It re-exports the safe API of
//! `dpdk-safe` at its root and the raw FFI of `dpdk-sys` as [`sys`], and records
//! which DPDK it was built against in [`build_info`].
//!
//! ```no_run
//! use dpdk::Eal;
//!
//! let eal = Eal::builder()
//!     .no_huge(64 << 20)
//!     .no_shconf()
//!     .allow("0000:00:03.0".parse()?)
//!     .init()?;
//! dpdk::build_info::check_runtime(&eal)?;
//! // One device's unreadable sysfs file is that device's error; the rest still list.
//! for (name, device) in eal.pci_devices().with_names() {
//!     match device {
//!         Ok(d) => println!("{} {:04x}:{:04x} {}", d.address, d.ids.vendor, d.ids.device, d.kernel_driver_name()),
//!         Err(e) => eprintln!("{name}: {e}"),
//!     }
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub use dpdk_safe::*;
pub use dpdk_sys as sys;

/// The DPDK this crate was compiled against, as `dpdk-sys`'s build script found it.
pub mod build_info {
    use dpdk_safe::Eal;

    /// Version from `libdpdk.pc`, e.g. `22.11.11`.
    pub const DPDK_VERSION: &str = env!("DPDK_RS_BUILD_VERSION");
    /// `distribution` (under `/usr`) or `custom-prefix` (found through `PKG_CONFIG_PATH`).
    pub const DPDK_ORIGIN: &str = env!("DPDK_RS_BUILD_ORIGIN");
    /// The header directories the bindings were generated from, `:`-separated.
    pub const DPDK_INCLUDE_DIRS: &str = env!("DPDK_RS_BUILD_INCLUDE");
    /// The library directories linked against, `:`-separated.
    pub const DPDK_LIBRARY_DIRS: &str = env!("DPDK_RS_BUILD_LIBDIR");
    /// Where the PCI driver structures came from: `generated` (the DPDK has its
    /// driver SDK headers installed), `by-hand` (a release whose layouts the
    /// crate checked: 22.11, 24.11) or `unavailable` (no `pci::driver` module).
    pub const PCI_DRIVER_STRUCTS: &str = env!("DPDK_RS_BUILD_DRIVER_STRUCTS");
    /// Whether DPDK has `rte_pci_mmio_read`/`write` (23.07 and later), which
    /// `pci::driver::DpdkBar` then uses; otherwise it reads the VFIO device file.
    pub const HAS_PCI_MMIO: bool = matches!(env!("DPDK_RS_BUILD_PCI_MMIO").as_bytes(), b"true");

    /// The loaded DPDK is not the one the bindings were generated for.
    #[derive(Debug, thiserror::Error)]
    #[error(
        "built against DPDK {built} but running with {running}: rebuild against the installed DPDK"
    )]
    pub struct VersionMismatch {
        /// The DPDK version the bindings were built against (pkg-config's, e.g. `22.11.11`).
        pub built: String,
        /// The version of the DPDK running, as `rte_version` reports it (e.g. `DPDK 22.11.11`).
        pub running: String,
    }

    /// Checks that the running DPDK has the year and month (the ABI line) of the
    /// DPDK the bindings were built against.
    pub fn check_runtime(eal: &Eal) -> Result<(), VersionMismatch> {
        let running = eal.version();
        let line = |v: &str| -> Option<String> {
            let mut parts = v.trim_start_matches("DPDK ").split('.');
            Some(format!("{}.{}", parts.next()?, parts.next()?))
        };
        if line(&running) == line(DPDK_VERSION) {
            Ok(())
        } else {
            Err(VersionMismatch {
                built: DPDK_VERSION.to_owned(),
                running,
            })
        }
    }
}
