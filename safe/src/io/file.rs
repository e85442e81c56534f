//! Register access through `pread64`/`pwrite64` on a file descriptor: works on
//! every target, 32-bit included, because the file offset is a 64-bit `off64_t`.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

use crate::io::error::AccessError;
use crate::io::region::FileRegion;
use crate::io::register::{ConfigRegister, ConfigRegisters, Register, Registers};
use crate::io::window::{self, Op, RawAccess, Window};

/// Reads and writes one region of a VFIO device (or of a plain file standing
/// in for one) with `pread64`/`pwrite64`.
///
/// Obtained from [`VfioDevice::region`](crate::VfioDevice::region); borrows
/// the device, so it cannot outlive it. Over a plain file (tests, benchmarks):
/// [`RegionIo::over_file`].
#[derive(Debug)]
pub struct RegionIo<'fd> {
    fd: BorrowedFd<'fd>,
    window: Window,
    /// Where the region starts in the file's offset space.
    file_offset: u64,
}

impl<'fd> RegionIo<'fd> {
    /// Access to `window` of the file behind `fd`, starting at `file_offset`.
    /// Crate-private: for a device the description is the kernel's (or DPDK's).
    pub(crate) fn new(fd: BorrowedFd<'fd>, window: Window, file_offset: u64) -> Self {
        RegionIo {
            fd,
            window,
            file_offset,
        }
    }

    /// Access to `region` of any file: a regular file or memfd standing in for
    /// a VFIO device file. Safe whatever the file and the description are:
    /// every access is one `pread64`/`pwrite64` into or out of a local buffer,
    /// so a wrong description gives an error (a file shorter than claimed gives
    /// [`AccessError::Short`]), never undefined behaviour.
    /// `region.sparse` is ignored: this path reaches the whole region.
    pub fn over_file(fd: BorrowedFd<'fd>, region: &FileRegion) -> Self {
        RegionIo::new(fd, region.window(), region.offset)
    }

    /// What may be accessed: the region, its size and permissions.
    pub fn window(&self) -> &Window {
        &self.window
    }

    /// Where the region starts in the file's offset space (`index << 40` for
    /// a vfio-pci device).
    pub fn file_offset(&self) -> u64 {
        self.file_offset
    }

    /// Fills `buf` from `offset` on, retrying partial reads and EINTR.
    pub fn read_bytes(&self, offset: u64, buf: &mut [u8]) -> Result<(), AccessError> {
        window::read_bytes(self, offset, buf)
    }

    /// Writes `buf` at `offset`, retrying partial writes and EINTR.
    pub fn write_bytes(&self, offset: u64, buf: &[u8]) -> Result<(), AccessError> {
        window::write_bytes(self, offset, buf)
    }

    /// The file offset of `offset` inside the region, as `off64_t`.
    fn at(&self, offset: u64) -> Result<libc::off64_t, AccessError> {
        self.file_offset
            .checked_add(offset)
            .and_then(|o| libc::off64_t::try_from(o).ok())
            .ok_or(AccessError::OffsetOverflow {
                region: self.window.index(),
                offset,
            })
    }

    /// Repeats `once` (one system call on the rest of the buffer, at the
    /// region offset given) until `len` bytes are done, or with `single`
    /// (register accesses) only once; 0 bytes, or a partial single transfer,
    /// is a short transfer. EINTR is retried.
    fn transfer(
        &self,
        op: Op,
        offset: u64,
        len: usize,
        single: bool,
        mut once: impl FnMut(usize, libc::off64_t) -> isize,
    ) -> Result<(), AccessError> {
        let region = self.window.index();
        let mut done = 0;
        while done < len {
            let at = self.at(offset + done as u64)?;
            match usize::try_from(once(done, at)) {
                Ok(n) if n == 0 || (single && n < len) => {
                    return Err(AccessError::Short {
                        region,
                        op: op.name(),
                        offset,
                        done: done + n,
                        wanted: len,
                    })
                }
                Ok(n) => done += n,
                Err(_) => {
                    let err = io::Error::last_os_error();
                    if err.kind() != io::ErrorKind::Interrupted {
                        return Err(AccessError::Io {
                            region,
                            op: op.name(),
                            offset,
                            source: err,
                        });
                    }
                }
            }
        }
        Ok(())
    }
}

impl RegionIo<'_> {
    fn pread(&self, offset: u64, buf: &mut [u8], single: bool) -> Result<(), AccessError> {
        let fd = self.fd.as_raw_fd();
        let len = buf.len();
        let ptr = buf.as_mut_ptr();
        self.transfer(Op::Read, offset, len, single, |done, at| {
            // SAFETY: `ptr + done .. ptr + len` lies inside `buf`, a live,
            // writable slice not otherwise used during the call.
            unsafe { libc::pread64(fd, ptr.add(done).cast(), len - done, at) }
        })
    }

    fn pwrite(&self, offset: u64, buf: &[u8], single: bool) -> Result<(), AccessError> {
        let fd = self.fd.as_raw_fd();
        self.transfer(Op::Write, offset, buf.len(), single, |done, at| {
            let rest = &buf[done..];
            // SAFETY: `rest` is a live slice of rest.len() readable bytes.
            unsafe { libc::pwrite64(fd, rest.as_ptr().cast(), rest.len(), at) }
        })
    }
}

impl RawAccess for RegionIo<'_> {
    fn window(&self) -> &Window {
        &self.window
    }

    fn read_raw(&self, offset: u64, buf: &mut [u8]) -> Result<(), AccessError> {
        self.pread(offset, buf, false)
    }

    fn write_raw(&self, offset: u64, buf: &[u8]) -> Result<(), AccessError> {
        self.pwrite(offset, buf, false)
    }

    fn read_register_raw(&self, offset: u64, buf: &mut [u8]) -> Result<(), AccessError> {
        self.pread(offset, buf, true)
    }

    fn write_register_raw(&self, offset: u64, buf: &[u8]) -> Result<(), AccessError> {
        self.pwrite(offset, buf, true)
    }
}

impl Registers for RegionIo<'_> {
    fn read<T: Register>(&self, offset: u64) -> Result<T, AccessError> {
        window::read_register(self, offset)
    }

    fn write<T: Register>(&self, offset: u64, value: T) -> Result<(), AccessError> {
        window::write_register(self, offset, value)
    }
}

/// Config space of a VFIO device through `pread64`/`pwrite64`: 1, 2 and 4-byte
/// registers ([`ConfigRegisters`]) and byte ranges.
///
/// Obtained from [`VfioDevice::config`](crate::VfioDevice::config).
#[derive(Debug)]
pub struct ConfigIo<'fd>(RegionIo<'fd>);

impl<'fd> ConfigIo<'fd> {
    pub(crate) fn new(io: RegionIo<'fd>) -> Self {
        ConfigIo(io)
    }

    /// Config space held in any file (an image of one, in tests and fuzzing),
    /// as [`RegionIo::over_file`] reaches it: safe whatever the file holds.
    pub fn over_file(fd: BorrowedFd<'fd>, region: &FileRegion) -> Self {
        ConfigIo(RegionIo::over_file(fd, region))
    }

    /// What may be accessed: config space's size and permissions.
    pub fn window(&self) -> &Window {
        self.0.window()
    }

    /// Fills `buf` from `offset` on.
    pub fn read_bytes(&self, offset: u64, buf: &mut [u8]) -> Result<(), AccessError> {
        self.0.read_bytes(offset, buf)
    }

    /// Writes `buf` at `offset`.
    pub fn write_bytes(&self, offset: u64, buf: &[u8]) -> Result<(), AccessError> {
        self.0.write_bytes(offset, buf)
    }
}

impl ConfigRegisters for ConfigIo<'_> {
    fn read<T: ConfigRegister>(&self, offset: u64) -> Result<T, AccessError> {
        window::read_register(&self.0, offset)
    }

    fn write<T: ConfigRegister>(&self, offset: u64, value: T) -> Result<(), AccessError> {
        window::write_register(&self.0, offset, value)
    }
}
