//! VFIO: a PCI device's regions (config space, BARs, ROM) from user space.
//!
//! [`Eal::vfio_open`](crate::Eal::vfio_open) opens a device in DPDK's VFIO
//! container or in the crate's own (`container`; see
//! [`VfioBackend`](crate::VfioBackend)). Its regions are then reachable two
//! ways:
//!
//! * [`VfioDevice::region`] gives a [`RegionIo`](crate::RegionIo):
//!   `pread64`/`pwrite64` at 64-bit offsets. It works on every target, 32-bit
//!   included.
//! * [`VfioDevice::map_bar`] gives a `MappedRegion`: the BAR mapped with
//!   `mmap64`, accessed with volatile loads and stores. It exists only on 64-bit
//!   targets (see the `io` module's documentation for why).
//!
//! Tests and benchmarks reach plain files standing in for a device file through
//! a [`FileRegion`](crate::FileRegion) (plain data, unlike [`RegionInfo`], which
//! only the crate makes): safely with `pread64`/`pwrite64`
//! ([`RegionIo::over_file`](crate::RegionIo::over_file)), and mapped with the
//! `unsafe` `MappedRegion::map_file`.

pub(crate) mod caps;
pub(crate) mod container;
pub(crate) mod device;
pub(crate) mod irq;
pub(crate) mod msix;
pub(crate) mod region;
pub(crate) mod request;

pub use caps::{CapChainError, RegionCaps};
pub use container::ContainerError;
pub use device::{BarError, OpenError, VfioDevice};
pub use irq::{BusMasterError, Interrupts, IrqError, ResetError};
pub use msix::MsixTable;
pub use region::{RegionFlags, RegionInfo, RegionInfoError};
pub use request::{RemovalRequests, RequestError};
