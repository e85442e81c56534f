//! One error type for applications that do not care which layer failed.

use crate::eal::EalError;
use crate::errno::DpdkErrno;
use crate::eth::EthError;
use crate::io::error::AccessError;
use crate::io::region::BadBarIndex;
use crate::pci::address::ParseAddressError;
use crate::pci::bus::DeviceError;
use crate::pci::sysfs::SysfsError;
use crate::vfio::caps::CapChainError;
use crate::vfio::device::{BarError, OpenError};
use crate::vfio::region::RegionInfoError;
use crate::vfio::request::RequestError;

/// Any error of this crate; each variant wraps the error of one operation,
/// with the same message.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Starting or stopping the EAL.
    #[error(transparent)]
    Eal(#[from] EalError),
    /// A PCI address that does not parse.
    #[error(transparent)]
    Address(#[from] ParseAddressError),
    /// A sysfs file that could not be read or parsed.
    #[error(transparent)]
    Sysfs(#[from] SysfsError),
    /// Enumeration, probe or remove on DPDK's PCI bus.
    #[error(transparent)]
    Device(#[from] DeviceError),
    /// Opening a device through VFIO.
    #[error(transparent)]
    Open(#[from] OpenError),
    /// An ethdev call.
    #[error(transparent)]
    Eth(#[from] EthError),
    /// Asking the kernel about a region.
    #[error(transparent)]
    RegionInfo(#[from] RegionInfoError),
    /// A malformed region capability chain.
    #[error(transparent)]
    CapChain(#[from] CapChainError),
    /// A register access.
    #[error(transparent)]
    Access(#[from] AccessError),
    /// Reaching a BAR of a VFIO device.
    #[error(transparent)]
    Bar(#[from] BarError),
    /// A BAR number outside 0 to 5.
    #[error(transparent)]
    BadBarIndex(#[from] BadBarIndex),
    /// Subscribing to a device's removal requests.
    #[error(transparent)]
    Request(#[from] RequestError),
    /// Reading the hugepage status.
    #[error(transparent)]
    Hugepage(#[from] crate::hugepages::HugepageError),
    /// Binding a device to a kernel driver.
    #[error(transparent)]
    Devbind(#[from] crate::pci::devbind::DevbindError),
    /// Routing DPDK's log to the `log` crate.
    #[error(transparent)]
    LogRoute(#[from] crate::eal::LogRouteError),
    /// Creating a packet mempool.
    #[error(transparent)]
    Mempool(#[from] crate::eth::MempoolError),
    /// An mbuf operation.
    #[error(transparent)]
    Mbuf(#[from] crate::eth::MbufError),
    /// Configuring or using an ethdev port.
    #[error(transparent)]
    Port(#[from] crate::eth::PortError),
    /// Launching work on an lcore.
    #[error(transparent)]
    Launch(#[from] crate::lcore::LaunchError),
    /// An error code from DPDK.
    #[error(transparent)]
    Dpdk(#[from] DpdkErrno),
    /// DMA memory: allocation, mapping, access ([`crate::DmaError`]).
    #[error(transparent)]
    Dma(#[from] crate::dma::DmaError),
    /// The crate's own VFIO container ([`crate::ContainerError`]).
    #[error(transparent)]
    Container(#[from] crate::vfio::container::ContainerError),
    /// Interrupts through VFIO ([`crate::IrqError`]).
    #[error(transparent)]
    Irq(#[from] crate::vfio::irq::IrqError),
    /// Device reset ([`crate::ResetError`]).
    #[error(transparent)]
    Reset(#[from] crate::vfio::irq::ResetError),
    /// Bus mastering in config space ([`crate::BusMasterError`]).
    #[error(transparent)]
    BusMaster(#[from] crate::vfio::irq::BusMasterError),
    /// A typed register field given a value that does not fit ([`crate::FieldError`]).
    #[error(transparent)]
    Field(#[from] crate::regblock::FieldError),
    /// A register block that does not fit its window ([`crate::BlockError`]).
    #[error(transparent)]
    Block(#[from] crate::regblock::BlockError),
    /// Mapping a region.
    #[cfg(target_pointer_width = "64")]
    #[error(transparent)]
    Map(#[from] crate::io::mapped::MapError),
    /// Registering a Rust PCI driver.
    #[cfg(dpdk_pci_driver)]
    #[error(transparent)]
    Register(#[from] crate::pci::driver::RegisterError),
    /// Reaching a BAR of a probed device through DPDK.
    #[cfg(dpdk_pci_driver)]
    #[error(transparent)]
    DpdkBar(#[from] crate::pci::driver::DpdkBarError),
    /// A Rust driver's refusal of a device.
    #[cfg(dpdk_pci_driver)]
    #[error(transparent)]
    Probe(#[from] crate::pci::driver::ProbeFailure),
    /// A device handle used after DPDK removed the device ([`crate::Revoked`]).
    #[cfg(dpdk_pci_driver)]
    #[error(transparent)]
    Revoked(#[from] crate::pci::driver::Revoked),
    /// Subscribing to device events ([`crate::DeviceEventsError`]).
    #[error(transparent)]
    DeviceEvents(#[from] crate::DeviceEventsError),
}

/// `Result` with this crate's [`Error`] by default.
pub type Result<T, E = Error> = std::result::Result<T, E>;
