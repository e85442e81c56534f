//! One error type for applications that do not care which layer failed.

use crate::eal::EalError;
use crate::pci::{DeviceError, ParseAddressError, SysfsError};
use crate::vfio::{AccessError, BadBarIndex, BarError, OpenError, RegionInfoError};

/// Any error of this crate; each variant wraps the error of one concept.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Eal(#[from] EalError),
    #[error(transparent)]
    Address(#[from] ParseAddressError),
    #[error(transparent)]
    Sysfs(#[from] SysfsError),
    #[error(transparent)]
    Device(#[from] DeviceError),
    #[error(transparent)]
    Open(#[from] OpenError),
    #[error(transparent)]
    Eth(#[from] crate::eth::EthError),
    #[error(transparent)]
    RegionInfo(#[from] RegionInfoError),
    #[error(transparent)]
    Access(#[from] AccessError),
    #[error(transparent)]
    Bar(#[from] BarError),
    #[error(transparent)]
    BadBarIndex(#[from] BadBarIndex),
    #[cfg(target_pointer_width = "64")]
    #[error(transparent)]
    Map(#[from] crate::vfio::MapError),
}
