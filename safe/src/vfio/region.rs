//! What the kernel says about a device region: `VFIO_DEVICE_GET_REGION_INFO`.
//!
//! A region's `offset` is where it starts in the device file descriptor's
//! offset space. For vfio-pci that is `index << 40`: every BAR but BAR0 lies
//! beyond 4 GiB. Offsets and sizes stay `u64` from the kernel to the `pread64`,
//! `pwrite64` or `mmap64` call; the 2015 bug this project exists for was those
//! offsets truncated to 32 bits on 32-bit hosts.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

use crate::io::region::{RegionIndex, SparseArea};
use crate::io::window::Window;
use crate::vfio::caps::{parse_region_caps, CapChainError, REGION_INFO_HEADER_LEN};

/// `VFIO_REGION_INFO_FLAG_*` that matter for access.
///
/// `#[non_exhaustive]`, like [`RegionInfo`]: outside this crate the fields can
/// be read but the struct cannot be written as a literal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub struct RegionFlags {
    /// The region may be read (`VFIO_REGION_INFO_FLAG_READ`).
    pub readable: bool,
    /// The region may be written (`VFIO_REGION_INFO_FLAG_WRITE`).
    pub writable: bool,
    /// The region may be mapped with mmap (`VFIO_REGION_INFO_FLAG_MMAP`).
    pub mmap: bool,
}

impl RegionFlags {
    /// Decodes the `flags` field of `vfio_region_info`; bits other than read, write and mmap are
    /// ignored.
    pub fn from_bits(flags: u32) -> Self {
        RegionFlags {
            readable: flags & dpdk_sys::VFIO_REGION_INFO_FLAG_READ != 0,
            writable: flags & dpdk_sys::VFIO_REGION_INFO_FLAG_WRITE != 0,
            mmap: flags & dpdk_sys::VFIO_REGION_INFO_FLAG_MMAP != 0,
        }
    }
}

/// One region as the kernel describes it.
///
/// Only this crate makes these: from the kernel's `VFIO_DEVICE_GET_REGION_INFO`
/// ([`VfioDevice::region_info`](crate::VfioDevice::region_info),
/// [`region_info`], [`parse_region_info`]) and, for BARs DPDK mapped, from DPDK's
/// record of the mapping. The fields are public to read, but the struct is
/// `#[non_exhaustive]`, so code outside the crate cannot write one:
///
/// ```compile_fail,E0639
/// use dpdk_safe::{RegionFlags, RegionIndex, RegionInfo};
/// let forged = RegionInfo {
///     index: RegionIndex::BAR0,
///     offset: 0,
///     size: 1 << 40,
///     flags: RegionFlags::from_bits(!0),
///     sparse_mmap: None,
///     msix_mappable: false,
///     caps: vec![],
/// }; // error[E0639]: cannot create non-exhaustive struct using struct expression
/// ```
///
/// Nor does any public function take a `RegionInfo` from its caller: what maps
/// a region ([`VfioDevice::map_bar`](crate::VfioDevice::map_bar)) asks the
/// kernel itself, and what reaches a plain file takes a [`FileRegion`](crate::FileRegion) instead.
/// So a value changed after the fact (the fields are public) or decoded from
/// bytes of the caller's choosing ([`parse_region_info`]) describes something,
/// but nothing trusts it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RegionInfo {
    /// Which region this is (a BAR, the ROM, config space or VGA).
    pub index: RegionIndex,
    /// Start of the region in the device fd's offset space (`index << 40` for PCI).
    pub offset: u64,
    /// Size in bytes; 0 for an unimplemented BAR.
    pub size: u64,
    /// What the kernel allows on the region (read, write, mmap).
    pub flags: RegionFlags,
    /// Only these areas may be mapped, when the kernel says so.
    pub sparse_mmap: Option<Vec<SparseArea>>,
    /// The MSI-X table in this BAR may be mapped.
    pub msix_mappable: bool,
    /// Every capability as `(id, version)`.
    pub caps: Vec<(u16, u16)>,
}

impl RegionInfo {
    /// What may be accessed, from the kernel's size and flags.
    pub fn window(&self) -> Window {
        Window::new(
            self.index,
            self.size,
            self.flags.readable,
            self.flags.writable,
        )
    }

    /// The region as a part of the device file, to map: refused when the
    /// kernel does not let it be mapped.
    #[cfg(target_pointer_width = "64")]
    pub(crate) fn mappable(&self) -> Result<crate::io::region::FileRegion, crate::io::MapError> {
        if !self.flags.mmap {
            return Err(crate::io::MapError::NotMappable { region: self.index });
        }
        Ok(crate::io::region::FileRegion {
            index: self.index,
            offset: self.offset,
            size: self.size,
            readable: self.flags.readable,
            writable: self.flags.writable,
            sparse: self.sparse_mmap.clone(),
        })
    }
}

/// Why region information could not be had.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegionInfoError {
    /// The `VFIO_DEVICE_GET_REGION_INFO` ioctl failed.
    #[error("VFIO_DEVICE_GET_REGION_INFO for {index} failed: {source}")]
    Ioctl {
        /// The region asked about.
        index: RegionIndex,
        /// The ioctl's error.
        source: io::Error,
    },
    /// The kernel wants a larger buffer (for capabilities) than this crate accepts.
    #[error("the kernel asks for {argsz} bytes of region info for {index}, more than the {max} accepted")]
    TooLarge {
        /// The region asked about.
        index: RegionIndex,
        /// The buffer size the kernel asks for, in bytes.
        argsz: u32,
        /// The largest buffer accepted, in bytes.
        max: usize,
    },
    /// The kernel's capability chain does not parse.
    #[error("malformed capability chain for {index}: {source}")]
    Caps {
        /// The region asked about.
        index: RegionIndex,
        /// What is wrong with the chain.
        source: CapChainError,
    },
}

/// Capabilities beyond this are not something a PCI device reports.
const MAX_REGION_INFO: usize = 64 * 1024;

/// Asks the kernel about one region of the device behind `fd`; re-asks with a
/// larger buffer when the capabilities do not fit the first one.
pub fn region_info(fd: BorrowedFd<'_>, index: RegionIndex) -> Result<RegionInfo, RegionInfoError> {
    let mut len = REGION_INFO_HEADER_LEN;
    loop {
        // u64 storage keeps the buffer aligned for struct vfio_region_info.
        let mut storage = vec![0u64; len.div_ceil(8)];
        // SAFETY: a byte view of storage's `len` initialised bytes (len <= 8 *
        // storage.len()), used only while storage lives and not otherwise borrowed.
        let bytes =
            unsafe { std::slice::from_raw_parts_mut(storage.as_mut_ptr().cast::<u8>(), len) };
        // argsz (len <= MAX_REGION_INFO, so it fits a u32) and index.
        bytes[0..4].copy_from_slice(&(len as u32).to_ne_bytes());
        bytes[8..12].copy_from_slice(&index.as_u32().to_ne_bytes());
        // SAFETY: `bytes` is `len` writable bytes, 8-byte aligned (u64 storage),
        // starting with a struct vfio_region_info whose argsz is `len`; the kernel
        // writes at most argsz bytes, and `bytes` outlives the call.
        let ret = unsafe {
            libc::ioctl(
                fd.as_raw_fd(),
                dpdk_sys::dpdk_shim_vfio_ioctl_get_region_info() as _,
                bytes.as_mut_ptr(),
            )
        };
        if ret < 0 {
            return Err(RegionInfoError::Ioctl {
                index,
                source: io::Error::last_os_error(),
            });
        }
        let argsz = u32::from_ne_bytes(bytes[0..4].try_into().expect("4 bytes"));
        if argsz as usize <= len {
            return parse_region_info(bytes, index);
        }
        if argsz as usize > MAX_REGION_INFO {
            return Err(RegionInfoError::TooLarge {
                index,
                argsz,
                max: MAX_REGION_INFO,
            });
        }
        len = argsz as usize;
    }
}

/// Decodes a filled `struct vfio_region_info` buffer, capabilities included.
pub fn parse_region_info(bytes: &[u8], index: RegionIndex) -> Result<RegionInfo, RegionInfoError> {
    let caps_err = |source| RegionInfoError::Caps { index, source };
    if bytes.len() < REGION_INFO_HEADER_LEN {
        return Err(caps_err(CapChainError::Truncated {
            offset: 0,
            needed: 32,
            len: bytes.len(),
        }));
    }
    let u32_at = |at: usize| u32::from_ne_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
    let u64_at = |at: usize| u64::from_ne_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
    let flags = u32_at(4);
    let cap_offset = if flags & dpdk_sys::VFIO_REGION_INFO_FLAG_CAPS != 0 {
        u32_at(12)
    } else {
        0
    };
    let caps = parse_region_caps(bytes, cap_offset).map_err(caps_err)?;
    Ok(RegionInfo {
        index,
        offset: u64_at(24),
        size: u64_at(16),
        flags: RegionFlags::from_bits(flags),
        sparse_mmap: caps.sparse_mmap,
        msix_mappable: caps.msix_mappable,
        caps: caps.raw,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    /// A filled `struct vfio_region_info` of `len` bytes.
    fn header(len: usize, flags: u32, cap_offset: u32, size: u64, offset: u64) -> Vec<u8> {
        let mut buf = vec![0u8; len];
        buf[0..4].copy_from_slice(&(len as u32).to_ne_bytes());
        buf[4..8].copy_from_slice(&flags.to_ne_bytes());
        buf[8..12].copy_from_slice(&2u32.to_ne_bytes());
        buf[12..16].copy_from_slice(&cap_offset.to_ne_bytes());
        buf[16..24].copy_from_slice(&size.to_ne_bytes());
        buf[24..32].copy_from_slice(&offset.to_ne_bytes());
        buf
    }

    #[test]
    #[cfg(target_pointer_width = "64")]
    fn only_regions_the_kernel_lets_be_mapped_are_mappable() {
        let flags = dpdk_sys::VFIO_REGION_INFO_FLAG_READ | dpdk_sys::VFIO_REGION_INFO_FLAG_WRITE;
        let info =
            parse_region_info(&header(32, flags, 0, 4096, 1 << 40), RegionIndex::BAR1).unwrap();
        assert!(matches!(
            info.mappable(),
            Err(crate::io::MapError::NotMappable {
                region: RegionIndex::BAR1
            })
        ));
        let info = parse_region_info(
            &header(
                32,
                flags | dpdk_sys::VFIO_REGION_INFO_FLAG_MMAP,
                0,
                4096,
                1 << 40,
            ),
            RegionIndex::BAR1,
        )
        .unwrap();
        let file = info.mappable().unwrap();
        assert_eq!(
            (file.offset, file.size, file.readable, file.writable),
            (1 << 40, 4096, true, true)
        );
        assert_eq!(info.window().size(), 4096);
    }

    #[test]
    fn decodes_a_header_with_64_bit_offset_and_size() {
        let flags = dpdk_sys::VFIO_REGION_INFO_FLAG_READ | dpdk_sys::VFIO_REGION_INFO_FLAG_MMAP;
        let buf = header(32, flags, 0, 8 << 30, 5 << 40);
        let info = parse_region_info(&buf, RegionIndex::BAR5).unwrap();
        assert_eq!(info.offset, 5 << 40);
        assert_eq!(info.size, 8 << 30);
        assert_eq!(
            info.flags,
            RegionFlags {
                readable: true,
                writable: false,
                mmap: true
            }
        );
        assert_eq!(info.sparse_mmap, None);
        assert!(info.caps.is_empty());
    }

    #[test]
    fn follows_the_chain_only_when_the_caps_flag_is_set() {
        let mut buf = header(48, dpdk_sys::VFIO_REGION_INFO_FLAG_CAPS, 32, 4096, 0);
        // MSI-X mappable capability, end of chain.
        buf[32..34]
            .copy_from_slice(&(dpdk_sys::VFIO_REGION_INFO_CAP_MSIX_MAPPABLE as u16).to_ne_bytes());
        buf[34..36].copy_from_slice(&1u16.to_ne_bytes());
        let info = parse_region_info(&buf, RegionIndex::BAR0).unwrap();
        assert!(info.msix_mappable);
        assert_eq!(info.caps, [(3, 1)]);

        // Without the flag, cap_offset is not looked at.
        buf[4..8].copy_from_slice(&0u32.to_ne_bytes());
        let info = parse_region_info(&buf, RegionIndex::BAR0).unwrap();
        assert!(!info.msix_mappable);

        // A bad chain is an error naming the region.
        let buf = header(48, dpdk_sys::VFIO_REGION_INFO_FLAG_CAPS, 44, 4096, 0);
        let err = parse_region_info(&buf, RegionIndex::BAR3).unwrap_err();
        assert!(err.to_string().contains("BAR3"), "{err}");
        assert!(matches!(
            err,
            RegionInfoError::Caps {
                source: CapChainError::Unaligned { offset: 44 },
                ..
            }
        ));
    }

    #[test]
    fn short_buffers_are_errors() {
        for len in 0..32 {
            let err = parse_region_info(&vec![0; len], RegionIndex::Rom).unwrap_err();
            assert!(
                matches!(
                    err,
                    RegionInfoError::Caps {
                        index: RegionIndex::Rom,
                        source: CapChainError::Truncated { offset: 0, needed: 32, len: l },
                    } if l == len
                ),
                "{len} bytes: {err:?}"
            );
        }
    }

    #[test]
    fn the_ioctl_on_a_file_that_is_no_vfio_device_fails_cleanly() {
        let null = std::fs::File::open("/dev/null").unwrap();
        let err = region_info(null.as_fd(), RegionIndex::Config).unwrap_err();
        match &err {
            RegionInfoError::Ioctl { index, source } => {
                assert_eq!(*index, RegionIndex::Config);
                assert_eq!(source.raw_os_error(), Some(libc::ENOTTY), "{err}");
            }
            other => panic!("unexpected {other}"),
        }
    }
}
