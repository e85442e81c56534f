//! Register access through `pread64`/`pwrite64` on the device fd: works on every
//! target, 32-bit included, because the file offset is a 64-bit `off64_t`.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

use crate::vfio::region::{FileRegion, RegionIndex, RegionInfo};

/// Why a register access was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    #[error("{region}: {width}-byte access at 0x{offset:x} is past the end (size 0x{size:x})")]
    OutOfBounds {
        region: RegionIndex,
        offset: u64,
        width: u64,
        size: u64,
    },
    #[error("{region}: {width}-byte access at 0x{offset:x} is not {width}-byte aligned")]
    Unaligned {
        region: RegionIndex,
        offset: u64,
        width: u64,
    },
    /// The offset is aligned, but the address it falls on is not: a mapping
    /// whose base is not 8-byte aligned (never one `mmap64` made).
    #[error("{region}: {width}-byte access at 0x{offset:x} falls on an address that is not {width}-byte aligned (the mapping's base is not); use the pread/pwrite path")]
    UnalignedAddress {
        region: RegionIndex,
        offset: u64,
        width: u64,
    },
    #[error("{region} is not readable (the kernel does not report VFIO_REGION_INFO_FLAG_READ)")]
    NotReadable { region: RegionIndex },
    #[error("{region} is not writable (the kernel does not report VFIO_REGION_INFO_FLAG_WRITE)")]
    NotWritable { region: RegionIndex },
    #[error("{region}: offset 0x{offset:x} does not fit the device file's 64-bit offset space")]
    OffsetOverflow { region: RegionIndex, offset: u64 },
    #[error("{region}: 0x{offset:x}..+0x{width:x} is outside the mapped areas; use the pread/pwrite path (VfioDevice::region)")]
    NotMapped {
        region: RegionIndex,
        offset: u64,
        width: u64,
    },
    #[error("{region}: short {op} at 0x{offset:x}: {done} of {wanted} bytes")]
    Short {
        region: RegionIndex,
        op: &'static str,
        offset: u64,
        done: usize,
        wanted: usize,
    },
    #[error("{region}: {op} at 0x{offset:x} failed: {source}")]
    Io {
        region: RegionIndex,
        op: &'static str,
        offset: u64,
        source: io::Error,
    },
}

mod sealed {
    pub trait Sealed {}
}

/// The register widths PCI devices have: u8, u16, u32, u64, little-endian.
pub trait Register: sealed::Sealed + Copy + Default + std::fmt::LowerHex {
    const WIDTH: usize;
    fn from_le_slice(bytes: &[u8]) -> Self;
    fn write_le(self, out: &mut [u8]);
    /// Converts a value loaded from little-endian device memory.
    fn from_le(raw: Self) -> Self;
    /// Converts a value to store into little-endian device memory.
    fn to_le(self) -> Self;
}

macro_rules! register {
    ($($t:ty),*) => {$(
        impl sealed::Sealed for $t {}
        impl Register for $t {
            const WIDTH: usize = std::mem::size_of::<$t>();
            fn from_le_slice(bytes: &[u8]) -> Self {
                <$t>::from_le_bytes(bytes.try_into().expect("slice of the register's width"))
            }
            fn write_le(self, out: &mut [u8]) {
                out.copy_from_slice(&self.to_le_bytes());
            }
            fn from_le(raw: Self) -> Self {
                <$t>::from_le(raw)
            }
            fn to_le(self) -> Self {
                <$t>::to_le(self)
            }
        }
    )*};
}
register!(u8, u16, u32, u64);

/// Register access shared by the `pread64` path ([`RegionIo`]) and, on 64-bit
/// targets, the mapped path ([`MappedRegion`](crate::vfio::MappedRegion)), so
/// that driver code does not care which one reached the device.
pub trait Registers {
    /// Reads one register; the offset must be aligned to its width.
    fn read<T: Register>(&self, offset: u64) -> Result<T, AccessError>;
    /// Writes one register; the offset must be aligned to its width.
    fn write<T: Register>(&self, offset: u64, value: T) -> Result<(), AccessError>;

    fn read8(&self, offset: u64) -> Result<u8, AccessError> {
        self.read(offset)
    }
    fn read16(&self, offset: u64) -> Result<u16, AccessError> {
        self.read(offset)
    }
    #[inline]
    fn read32(&self, offset: u64) -> Result<u32, AccessError> {
        self.read(offset)
    }
    fn read64(&self, offset: u64) -> Result<u64, AccessError> {
        self.read(offset)
    }
    fn write8(&self, offset: u64, value: u8) -> Result<(), AccessError> {
        self.write(offset, value)
    }
    fn write16(&self, offset: u64, value: u16) -> Result<(), AccessError> {
        self.write(offset, value)
    }
    #[inline]
    fn write32(&self, offset: u64, value: u32) -> Result<(), AccessError> {
        self.write(offset, value)
    }
    fn write64(&self, offset: u64, value: u64) -> Result<(), AccessError> {
        self.write(offset, value)
    }
}

/// Checks an access of `width` bytes at `offset` inside the region: bounds always,
/// alignment when `aligned`. Returns the end offset.
pub(crate) fn check_span(
    info: &RegionInfo,
    offset: u64,
    width: u64,
    aligned: bool,
) -> Result<u64, AccessError> {
    let region = info.index;
    let end = offset
        .checked_add(width)
        .filter(|end| *end <= info.size)
        .ok_or(AccessError::OutOfBounds {
            region,
            offset,
            width,
            size: info.size,
        })?;
    if aligned && width > 1 && offset % width != 0 {
        return Err(AccessError::Unaligned {
            region,
            offset,
            width,
        });
    }
    Ok(end)
}

/// Reads and writes one region of a VFIO device with `pread64`/`pwrite64`.
///
/// Obtained from [`VfioDevice::region`](crate::vfio::VfioDevice::region); borrows
/// the device, so it cannot outlive it. Over a plain file (tests, benchmarks):
/// [`RegionIo::over_file`].
#[derive(Debug)]
pub struct RegionIo<'fd> {
    fd: BorrowedFd<'fd>,
    info: RegionInfo,
}

impl<'fd> RegionIo<'fd> {
    /// Access to the region `info` describes on the VFIO device behind `fd`.
    /// Crate-private: `info` is the kernel's (or DPDK's) description of it.
    pub(crate) fn new(fd: BorrowedFd<'fd>, info: RegionInfo) -> Self {
        RegionIo { fd, info }
    }

    /// Access to `region` of any file: a regular file or memfd standing in for
    /// a VFIO device file. Safe whatever the file and the description are:
    /// every access is one `pread64`/`pwrite64` into or out of a local buffer,
    /// so a wrong description gives an error (a file shorter than claimed gives
    /// [`AccessError::Short`]), never undefined behaviour.
    /// `region.sparse` is ignored: this path reaches the whole region.
    pub fn over_file(fd: BorrowedFd<'fd>, region: &FileRegion) -> Self {
        RegionIo::new(fd, region.to_info(false))
    }

    pub fn info(&self) -> &RegionInfo {
        &self.info
    }

    /// The file offset of `offset` inside the region, as `off64_t`.
    fn file_offset(&self, offset: u64) -> Result<libc::off64_t, AccessError> {
        self.info
            .offset
            .checked_add(offset)
            .and_then(|o| libc::off64_t::try_from(o).ok())
            .ok_or(AccessError::OffsetOverflow {
                region: self.info.index,
                offset,
            })
    }

    /// Fills `buf` from `offset` on, retrying partial reads and EINTR.
    pub fn read_bytes(&self, offset: u64, buf: &mut [u8]) -> Result<(), AccessError> {
        if !self.info.flags.readable {
            return Err(AccessError::NotReadable {
                region: self.info.index,
            });
        }
        check_span(&self.info, offset, buf.len() as u64, false)?;
        let mut done = 0;
        while done < buf.len() {
            let n = self.pread_once(&mut buf[done..], offset + done as u64)?;
            if n == 0 {
                return Err(self.short("read", offset, done, buf.len()));
            }
            done += n;
        }
        Ok(())
    }

    /// Writes `buf` at `offset`, retrying partial writes and EINTR.
    pub fn write_bytes(&self, offset: u64, buf: &[u8]) -> Result<(), AccessError> {
        if !self.info.flags.writable {
            return Err(AccessError::NotWritable {
                region: self.info.index,
            });
        }
        check_span(&self.info, offset, buf.len() as u64, false)?;
        let mut done = 0;
        while done < buf.len() {
            let n = self.pwrite_once(&buf[done..], offset + done as u64)?;
            if n == 0 {
                return Err(self.short("write", offset, done, buf.len()));
            }
            done += n;
        }
        Ok(())
    }

    fn short(&self, op: &'static str, offset: u64, done: usize, wanted: usize) -> AccessError {
        AccessError::Short {
            region: self.info.index,
            op,
            offset,
            done,
            wanted,
        }
    }

    /// One `pread64`, repeated only on EINTR; returns the bytes read.
    fn pread_once(&self, buf: &mut [u8], offset: u64) -> Result<usize, AccessError> {
        let at = self.file_offset(offset)?;
        self.retry_eintr("read", offset, || {
            // SAFETY: buf is a live, writable slice of buf.len() bytes.
            unsafe { libc::pread64(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), at) }
        })
    }

    /// One `pwrite64`, repeated only on EINTR; returns the bytes written.
    fn pwrite_once(&self, buf: &[u8], offset: u64) -> Result<usize, AccessError> {
        let at = self.file_offset(offset)?;
        self.retry_eintr("write", offset, || {
            // SAFETY: buf is a live slice of buf.len() readable bytes.
            unsafe { libc::pwrite64(self.fd.as_raw_fd(), buf.as_ptr().cast(), buf.len(), at) }
        })
    }

    /// Runs a system call until it is not interrupted; maps errors.
    fn retry_eintr(
        &self,
        op: &'static str,
        offset: u64,
        mut call: impl FnMut() -> isize,
    ) -> Result<usize, AccessError> {
        loop {
            if let Ok(n) = usize::try_from(call()) {
                return Ok(n);
            }
            let err = io::Error::last_os_error();
            if err.kind() != io::ErrorKind::Interrupted {
                return Err(AccessError::Io {
                    region: self.info.index,
                    op,
                    offset,
                    source: err,
                });
            }
        }
    }
}

impl Registers for RegionIo<'_> {
    fn read<T: Register>(&self, offset: u64) -> Result<T, AccessError> {
        if !self.info.flags.readable {
            return Err(AccessError::NotReadable {
                region: self.info.index,
            });
        }
        check_span(&self.info, offset, T::WIDTH as u64, true)?;
        let mut buf = [0u8; 8];
        let done = self.pread_once(&mut buf[..T::WIDTH], offset)?;
        if done != T::WIDTH {
            return Err(self.short("read", offset, done, T::WIDTH));
        }
        Ok(T::from_le_slice(&buf[..T::WIDTH]))
    }

    fn write<T: Register>(&self, offset: u64, value: T) -> Result<(), AccessError> {
        if !self.info.flags.writable {
            return Err(AccessError::NotWritable {
                region: self.info.index,
            });
        }
        check_span(&self.info, offset, T::WIDTH as u64, true)?;
        let mut buf = [0u8; 8];
        value.write_le(&mut buf[..T::WIDTH]);
        let done = self.pwrite_once(&buf[..T::WIDTH], offset)?;
        if done != T::WIDTH {
            return Err(self.short("write", offset, done, T::WIDTH));
        }
        Ok(())
    }
}
