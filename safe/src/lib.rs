//! Safe Rust API over DPDK's EAL, PCI bus and VFIO.
//!
//! Every item has one path, at this crate's root:
//!
//! * The EAL's lifecycle: [`EalBuilder`] starts it (once per process), the one
//!   [`Eal`] handle stands for it, dropping the handle cleans it up.
//! * PCI devices: [`PciAddress`], what sysfs says about a device
//!   ([`SysfsDevice`]), the devices DPDK's bus holds ([`Eal::pci_devices`],
//!   [`PciDevice`]), probe and remove ([`Eal::probe`], [`Eal::remove`]), and PCI
//!   drivers written in Rust ([`PciDriver`], [`register`]; DPDK 22.11's driver
//!   SDK layout, compiled where `dpdk-sys` has it).
//! * VFIO: [`Eal::vfio_open`] opens a device bound to vfio-pci in DPDK's VFIO
//!   container ([`VfioDevice`]), whose regions (config space, BARs, ROM) are
//!   reached with `pread64`/`pwrite64` on every target ([`RegionIo`],
//!   [`ConfigIo`]) or, on 64-bit targets only, through an `mmap64` mapping
//!   ([`VfioDevice::map_bar`]).
//! * Register access: the accessor traits ([`Registers`] for BARs,
//!   [`ConfigRegisters`] for config space: 1, 2 and 4 bytes), what may be
//!   accessed ([`Window`]) and why an access failed ([`AccessError`]), the same
//!   whichever backend reaches the device.
//! * Writing drivers: DMA memory ([`DmaBuffer`], [`ExternalMemory`],
//!   [`iova_of`]), interrupts through VFIO eventfds ([`Interrupts`],
//!   [`VfioDevice::enable_interrupts`]), device reset ([`VfioDevice::reset`]),
//!   typed register blocks ([`register_block!`]), and per-device driver state
//!   with handles revoked on removal (`PciDriver::Device`, `BoundDevice`).
//! * Packets through DPDK's own NIC drivers: mempools and mbufs ([`Mempool`],
//!   [`Mbuf`], [`Burst`]), ports ([`Port`]), queues ([`RxQueue`], [`TxQueue`]),
//!   and Rust closures on worker lcores ([`lcore_scope`], [`StopFlag`]).
//! * Around the EAL: DPDK's log as records of the `log` crate (on by default,
//!   [`EalBuilder::log_to_rust`]), hugepage status ([`hugepage_status`]), and
//!   binding devices to vfio-pci as `dpdk-devbind.py` does ([`Devbind`]).
//! * Errors: each operation has its own enum; [`Error`] wraps them all, and
//!   [`DpdkErrno`] is the error code DPDK returned, with its text.
//!
//! With the `testing` feature, [`testing`](crate#testing) builds fake sysfs PCI
//! trees for tests that must never touch real hardware.
//!
//! # 32-bit targets
#![cfg_attr(
    target_pointer_width = "32",
    doc = "\nOn this 32-bit target the mapping types do not exist; this does not compile:\n\n```compile_fail\nuse dpdk_safe::MappedRegion;\n```\n\nwhile the `pread64` path does:\n\n```\nuse dpdk_safe::{RegionIo, Registers};\nfn status(io: &RegionIo<'_>) -> u32 { io.read32(0x8).unwrap_or(0) }\n```\n"
)]
#![cfg_attr(
    target_pointer_width = "64",
    doc = "\nOn this 64-bit target the mapping API exists: [`MappedRegion`], [`RegionView`], [`FixedMapping`]. A 32-bit target has `pread64`/`pwrite64` access only.\n"
)]
//!
//! # Testing
//!
//! The `testing` module (feature `testing`) writes fake sysfs trees
//! (`FakePciTree`) for `SYSFS_PCI_DEVICES`.

mod bus_lock;
mod dma;
mod eal;
mod errno;
mod error;
mod eth;
mod hugepages;
mod io;
mod lcore;
mod pci;
mod regblock;
#[cfg(feature = "testing")]
pub mod testing;
mod vfio;

pub use dma::{iova_of, DmaBuffer, DmaError, DmaMapping, ExternalMemory, VfioDmaMapping};
pub use eal::{
    level_from_dpdk, route_dpdk_log, CArgv, DeviceEvent, DeviceEventKind, DeviceEvents,
    DeviceEventsError, Eal, EalBuilder, EalError, IovaMode, LogLevel, LogRouteError, VfioBackend,
};
pub use errno::DpdkErrno;
pub use error::{Error, Result};
pub use eth::{
    rss, rx_offload, tx_offload, Burst, EthError, EthPort, Link, Mbuf, MbufError, Mempool,
    MempoolConfig, MempoolError, OffloadFlags, PacketType, Port, PortConfig, PortError, PortInfo,
    PortStats, RxQueue, TxQueue, MAX_BURST, MAX_CACHE_SIZE, MAX_NAME_LEN,
};
pub use hugepages::{
    hugepage_status, hugepage_status_at, HugepageError, HugepageRoots, HugepageStatus,
    HugetlbfsMount, NodePages, PageSize,
};
pub use io::{
    AccessError, BadBarIndex, BarIndex, ConfigIo, ConfigRegister, ConfigRegisters, FileRegion,
    RegionIndex, RegionIo, Register, Registers, SparseArea, Window,
};
#[cfg(target_pointer_width = "64")]
pub use io::{FixedMapping, MapError, MappedRegion, RegionView};
pub use lcore::{
    current_lcore, lcore_scope, LaunchError, LcoreHandle, LcoreResult, LcoreScope, StopFlag,
};
pub use pci::address::{AddressErrorKind, AddressField, ParseAddressError, PciAddress};
pub use pci::bus::{DeviceError, NamedPciDevices, PciDevice, PciDevices};
pub use pci::devbind::{
    apply_sysfs_writes, Binding, Devbind, DevbindError, DeviceStatus, SysfsWrite,
};
#[cfg(dpdk_pci_driver)]
pub use pci::driver::{
    register, BoundDevice, DpdkBar, DpdkBarError, DpdkConfig, DriverFlags, PciDriver, PciIdPattern,
    ProbeFailure, ProbedDevice, RegisterError, Registered, Revoked, ANY_ID,
};
pub use pci::interrupt::IrqKind;
pub use pci::sysfs::{
    kernel_driver_name, list_device_dirs, sysfs_pci_root, BarInfo, BarKind, KernelDriver, PciClass,
    PciDeviceIds, SysfsDevice, SysfsError, SysfsErrorKind,
};
#[doc(hidden)]
pub use regblock::check_block as __check_block;
pub use regblock::{
    BlockError, Field, FieldError, ReadOnly, ReadWrite, Readable, Reg, RegisterDef, RegisterValue,
    Writable, WriteOnly,
};
pub use vfio::{
    BarError, BusMasterError, CapChainError, ContainerError, Interrupts, IrqError, MsixTable,
    OpenError, RegionCaps, RegionFlags, RegionInfo, RegionInfoError, RemovalRequests, RequestError,
    ResetError, VfioDevice,
};

/// Parsers of outside input, public only so that the fuzz targets and tests
/// reach them; not part of the API.
#[doc(hidden)]
pub mod parse {
    pub use crate::pci::sysfs::{device_dir, parse_resource, scan_address};
    pub use crate::vfio::caps::parse_region_caps;
    pub use crate::vfio::msix::find_msix_table;
    pub use crate::vfio::region::{parse_region_info, region_info};
}
