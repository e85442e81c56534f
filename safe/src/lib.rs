//! Safe Rust API over DPDK's EAL, PCI bus and VFIO.
//!
//! * [`eal`]: start and stop the Environment Abstraction Layer, once per process.
//! * [`pci`]: PCI addresses, the devices DPDK's bus sees, probe and remove.
//! * [`vfio`]: open a device bound to vfio-pci through DPDK's VFIO container and
//!   reach its regions (config space, BARs, ROM) with `pread64`/`pwrite64` on every
//!   target, or through an `mmap64` mapping on 64-bit targets.
//! * [`testing`]: fake sysfs PCI trees for tests that must never touch real hardware.

pub mod eal;
pub mod error;
pub mod pci;
pub mod testing;
pub mod vfio;

pub use error::Error;
