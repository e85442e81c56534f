//! Safe Rust API over DPDK's EAL, PCI bus and VFIO.
//!
//! * [`eal`]: start and stop the Environment Abstraction Layer, once per process.
//! * [`pci`]: PCI addresses, the devices DPDK's bus sees, probe and remove, and
//!   PCI drivers written in Rust (`pci::driver`, DPDK 22.11).
//! * [`vfio`]: open a device bound to vfio-pci through DPDK's VFIO container and
//!   reach its regions (config space, BARs, ROM) with `pread64`/`pwrite64` on every
//!   target, or through an `mmap64` mapping on 64-bit targets.
//! * [`eth`]: the ethdev ports DPDK's own NIC drivers created, mempools, mbufs,
//!   port configuration and RX/TX bursts.
//! * [`lcore`]: Rust closures on the EAL's worker lcores, and a stop flag.
//! * [`testing`]: fake sysfs PCI trees for tests that must never touch real hardware.

pub mod eal;
pub mod error;
pub mod eth;
pub mod lcore;
pub mod pci;
pub mod testing;
pub mod vfio;

pub use error::Error;
