//! Why a register access was refused or failed.

use std::io;

use crate::io::region::RegionIndex;

/// Why a register access was refused or failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AccessError {
    /// The access reaches past the end of the region.
    #[error("{region}: {width}-byte access at 0x{offset:x} is past the end (size 0x{size:x})")]
    OutOfBounds {
        /// The region accessed.
        region: RegionIndex,
        /// Region-relative offset of the access.
        offset: u64,
        /// Bytes accessed.
        width: u64,
        /// The region's size.
        size: u64,
    },
    /// The offset is not a multiple of the register's width.
    #[error("{region}: {width}-byte access at 0x{offset:x} is not {width}-byte aligned")]
    Unaligned {
        /// The region accessed.
        region: RegionIndex,
        /// Region-relative offset of the access.
        offset: u64,
        /// Bytes accessed.
        width: u64,
    },
    /// The offset is aligned, but the address it falls on is not: a mapping
    /// whose base is not 8-byte aligned (never one `mmap64` made).
    #[error("{region}: {width}-byte access at 0x{offset:x} falls on an address that is not {width}-byte aligned (the mapping's base is not); use the pread/pwrite path")]
    UnalignedAddress {
        /// The region accessed.
        region: RegionIndex,
        /// Region-relative offset of the access.
        offset: u64,
        /// Bytes accessed.
        width: u64,
    },
    /// The region may not be read.
    #[error("{region} is not readable (the kernel does not report VFIO_REGION_INFO_FLAG_READ)")]
    NotReadable {
        /// The region accessed.
        region: RegionIndex,
    },
    /// The region may not be written.
    #[error("{region} is not writable (the kernel does not report VFIO_REGION_INFO_FLAG_WRITE)")]
    NotWritable {
        /// The region accessed.
        region: RegionIndex,
    },
    /// The file offset of the access does not fit a signed 64-bit offset.
    #[error("{region}: offset 0x{offset:x} does not fit the device file's 64-bit offset space")]
    OffsetOverflow {
        /// The region accessed.
        region: RegionIndex,
        /// Region-relative offset of the access.
        offset: u64,
    },
    /// A mapped accessor was asked for bytes outside the mapped areas.
    #[error("{region}: 0x{offset:x}..+0x{width:x} is outside the mapped areas; use the pread/pwrite path (VfioDevice::region)")]
    NotMapped {
        /// The region accessed.
        region: RegionIndex,
        /// Region-relative offset of the access.
        offset: u64,
        /// Bytes accessed.
        width: u64,
    },
    /// Fewer bytes than asked for were transferred.
    #[error("{region}: short {op} at 0x{offset:x}: {done} of {wanted} bytes")]
    Short {
        /// The region accessed.
        region: RegionIndex,
        /// `"read"` or `"write"`.
        op: &'static str,
        /// Region-relative offset of the access.
        offset: u64,
        /// Bytes transferred.
        done: usize,
        /// Bytes asked for.
        wanted: usize,
    },
    /// The system call (or DPDK's call) failed.
    #[error("{region}: {op} at 0x{offset:x} failed: {source}")]
    Io {
        /// The region accessed.
        region: RegionIndex,
        /// `"read"` or `"write"`.
        op: &'static str,
        /// Region-relative offset of the access.
        offset: u64,
        /// What failed.
        source: io::Error,
    },
}
