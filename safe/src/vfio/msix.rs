//! Where a device's MSI-X table lives, read from its config space.
//!
//! The table is a BAR range the kernel may forbid mapping (older kernels, or no
//! `VFIO_REGION_INFO_CAP_MSIX_MAPPABLE`): a mapping of that BAR must leave it out.

use std::ops::Range;

#[cfg(target_pointer_width = "64")]
use std::os::fd::BorrowedFd;

use crate::vfio::access::{AccessError, RegionIo, Registers};
#[cfg(target_pointer_width = "64")]
use crate::vfio::region::{region_info, RegionIndex, RegionInfo, RegionInfoError};

const STATUS: u64 = 0x06;
const STATUS_CAP_LIST: u16 = 1 << 4;
const CAP_POINTER: u64 = 0x34;
const CAP_ID_MSIX: u8 = 0x11;
/// 256 bytes of standard config space hold at most 48 capabilities of 4 bytes.
const MAX_CAPS: usize = 48;

/// The MSI-X table: which BAR, and the byte range inside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MsixTable {
    pub bar: u8,
    pub range: Range<u64>,
    pub entries: u16,
}

/// Walks the capability list of `config` (the config-space region) for MSI-X.
/// A malformed list (pointer into the header, unaligned, looping) ends the walk.
pub fn find_msix_table(config: &RegionIo<'_>) -> Result<Option<MsixTable>, AccessError> {
    if config.read16(STATUS)? & STATUS_CAP_LIST == 0 {
        return Ok(None);
    }
    let mut pointer = config.read8(CAP_POINTER)? & !0x3;
    for _ in 0..MAX_CAPS {
        if pointer < 0x40 {
            return Ok(None);
        }
        let at = u64::from(pointer);
        let header = config.read16(at)?;
        let (id, next) = ((header & 0xff) as u8, (header >> 8) as u8);
        if id == CAP_ID_MSIX {
            let control = config.read16(at + 2)?;
            let table = config.read32(at + 4)?;
            let entries = (control & 0x7ff) + 1;
            let start = u64::from(table & !0x7);
            return Ok(Some(MsixTable {
                bar: (table & 0x7) as u8,
                range: start..start + u64::from(entries) * 16,
                entries,
            }));
        }
        pointer = next & !0x3;
    }
    Ok(None)
}

/// Why the MSI-X table of a device could not be located.
#[cfg(target_pointer_width = "64")]
#[derive(Debug, thiserror::Error)]
pub(crate) enum LocateError {
    #[error(transparent)]
    Info(#[from] RegionInfoError),
    #[error(transparent)]
    Access(#[from] AccessError),
}

/// What a mapping of `info`'s region, on VFIO device file `fd`, must leave out:
/// the MSI-X table when it lies in this BAR and the kernel does not report it
/// mappable (DPDK leaves those pages out of its own mappings for the same
/// reason). Shared by `VfioDevice::map_bar` and the views of DPDK's mappings.
#[cfg(target_pointer_width = "64")]
pub(crate) fn unmappable_ranges(
    fd: BorrowedFd<'_>,
    info: &RegionInfo,
) -> Result<Vec<Range<u64>>, LocateError> {
    let RegionIndex::Bar(bar) = info.index else {
        return Ok(Vec::new());
    };
    if info.msix_mappable {
        return Ok(Vec::new());
    }
    let config = RegionIo::new(fd, region_info(fd, RegionIndex::Config)?);
    Ok(find_msix_table(&config)?
        .filter(|table| table.bar == bar)
        .map(|table| table.range)
        .into_iter()
        .collect())
}
