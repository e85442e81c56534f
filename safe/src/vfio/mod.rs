//! VFIO: a PCI device's regions (config space, BARs, ROM) from user space.
//!
//! [`Eal::vfio_open`](crate::eal::Eal::vfio_open) opens a device in DPDK's VFIO
//! container. Its regions are then reachable two ways:
//!
//! * [`VfioDevice::region`] gives a [`RegionIo`]: `pread64`/`pwrite64` at 64-bit
//!   offsets. It works on every target, 32-bit included.
//! * [`VfioDevice::map_bar`] gives a [`MappedRegion`]: the BAR mapped with
//!   `mmap64`, accessed with volatile loads and stores. It exists only on 64-bit
//!   targets; see the [`mapping`] module (64-bit docs) for why.
//!
//! Tests and benchmarks reach plain files standing in for a device file through
//! a [`FileRegion`] (plain data, unlike [`RegionInfo`], which only the crate
//! makes): safely with `pread64`/`pwrite64` ([`RegionIo::over_file`]), and
//! mapped with the `unsafe` `MappedRegion::map_file`.
#![cfg_attr(
    target_pointer_width = "32",
    doc = "\nOn this 32-bit target the mapping API does not exist:\n\n```compile_fail\nuse dpdk_safe::vfio::MappedRegion;\n```\n"
)]

pub mod access;
pub mod caps;
pub mod device;
#[cfg(target_pointer_width = "64")]
pub mod mapping;
pub mod msix;
pub mod region;
pub mod request;

pub use access::{AccessError, RegionIo, Register, Registers};
pub use caps::{CapChainError, SparseArea};
pub use device::{BarError, OpenError, VfioDevice};
#[cfg(target_pointer_width = "64")]
pub use mapping::{FixedMapping, MapError, MappedRegion};
pub use msix::MsixTable;
pub use region::{BadBarIndex, FileRegion, RegionFlags, RegionIndex, RegionInfo, RegionInfoError};
pub use request::{RemovalRequests, RequestError};
