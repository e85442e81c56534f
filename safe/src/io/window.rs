//! The one place accesses are checked: permission, bounds, alignment.
//!
//! Backends ([`RegionIo`](crate::RegionIo)'s `pread64`/`pwrite64`, DPDK's calls
//! for probed devices) only move bytes; the mapped path's one-compare fast
//! path falls back to [`Window::check`] for everything it does not take.

use crate::io::error::AccessError;
use crate::io::region::RegionIndex;
use crate::io::register::Register;

/// What may be accessed in a region: its size and whether it may be read and
/// written. Every access through the crate's accessors is checked against one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Window {
    index: RegionIndex,
    size: u64,
    readable: bool,
    writable: bool,
}

/// The direction of an access.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Read,
    Write,
}

impl Op {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Op::Read => "read",
            Op::Write => "write",
        }
    }
}

impl Window {
    pub(crate) fn new(index: RegionIndex, size: u64, readable: bool, writable: bool) -> Self {
        Window {
            index,
            size,
            readable,
            writable,
        }
    }

    /// The region this window is on; errors name it.
    pub fn index(&self) -> RegionIndex {
        self.index
    }

    /// Size in bytes; 0 for an unimplemented BAR.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Whether reads are allowed.
    pub fn readable(&self) -> bool {
        self.readable
    }

    /// Whether writes are allowed.
    pub fn writable(&self) -> bool {
        self.writable
    }

    /// Checks an access of `width` bytes at `offset`: the permission for `op`,
    /// the bounds, and when `aligned` (register accesses) the alignment of the
    /// offset to the width. Returns the end offset.
    pub(crate) fn check(
        &self,
        op: Op,
        offset: u64,
        width: u64,
        aligned: bool,
    ) -> Result<u64, AccessError> {
        let region = self.index;
        match op {
            Op::Read if !self.readable => return Err(AccessError::NotReadable { region }),
            Op::Write if !self.writable => return Err(AccessError::NotWritable { region }),
            _ => {}
        }
        let end = offset
            .checked_add(width)
            .filter(|end| *end <= self.size)
            .ok_or(AccessError::OutOfBounds {
                region,
                offset,
                width,
                size: self.size,
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
}

/// A backend: moves bytes to or from the device at a region-relative offset
/// that [`Window::check`] has already accepted.
pub(crate) trait RawAccess {
    fn window(&self) -> &Window;
    /// Moves `buf.len()` bytes from the device, in as many transfers as it takes.
    fn read_raw(&self, offset: u64, buf: &mut [u8]) -> Result<(), AccessError>;
    /// Moves `buf.len()` bytes to the device, in as many transfers as it takes.
    fn write_raw(&self, offset: u64, buf: &[u8]) -> Result<(), AccessError>;
    /// One register read: a single transfer of the whole register (a device
    /// register must not be split into two accesses); a short one is
    /// [`AccessError::Short`]. Backends whose calls never split one keep this.
    fn read_register_raw(&self, offset: u64, buf: &mut [u8]) -> Result<(), AccessError> {
        self.read_raw(offset, buf)
    }
    /// One register write, as [`read_register_raw`](Self::read_register_raw).
    fn write_register_raw(&self, offset: u64, buf: &[u8]) -> Result<(), AccessError> {
        self.write_raw(offset, buf)
    }
}

/// A checked register read through a backend.
pub(crate) fn read_register<T: Register>(
    backend: &impl RawAccess,
    offset: u64,
) -> Result<T, AccessError> {
    backend
        .window()
        .check(Op::Read, offset, T::WIDTH as u64, true)?;
    let mut buf = [0u8; 8];
    backend.read_register_raw(offset, &mut buf[..T::WIDTH])?;
    Ok(T::from_le_slice(&buf[..T::WIDTH]))
}

/// A checked register write through a backend.
pub(crate) fn write_register<T: Register>(
    backend: &impl RawAccess,
    offset: u64,
    value: T,
) -> Result<(), AccessError> {
    backend
        .window()
        .check(Op::Write, offset, T::WIDTH as u64, true)?;
    let mut buf = [0u8; 8];
    value.write_le(&mut buf[..T::WIDTH]);
    backend.write_register_raw(offset, &buf[..T::WIDTH])
}

/// A checked read of any number of bytes (no alignment asked) through a backend.
pub(crate) fn read_bytes(
    backend: &impl RawAccess,
    offset: u64,
    buf: &mut [u8],
) -> Result<(), AccessError> {
    backend
        .window()
        .check(Op::Read, offset, buf.len() as u64, false)?;
    backend.read_raw(offset, buf)
}

/// A checked write of any number of bytes (no alignment asked) through a backend.
pub(crate) fn write_bytes(
    backend: &impl RawAccess,
    offset: u64,
    buf: &[u8],
) -> Result<(), AccessError> {
    backend
        .window()
        .check(Op::Write, offset, buf.len() as u64, false)?;
    backend.write_raw(offset, buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_permission_then_bounds_then_alignment() {
        let w = Window::new(RegionIndex::BAR1, 0x100, true, false);
        assert!(matches!(
            w.check(Op::Write, 0x1000, 4, true),
            Err(AccessError::NotWritable { .. })
        ));
        assert!(matches!(
            w.check(Op::Read, 0xfe, 4, true),
            Err(AccessError::OutOfBounds { size: 0x100, .. })
        ));
        assert!(matches!(
            w.check(Op::Read, u64::MAX, 2, true),
            Err(AccessError::OutOfBounds { .. })
        ));
        assert!(matches!(
            w.check(Op::Read, 0x2, 4, true),
            Err(AccessError::Unaligned { .. })
        ));
        assert_eq!(w.check(Op::Read, 0x2, 4, false).unwrap(), 0x6);
        assert_eq!(w.check(Op::Read, 0xfc, 4, true).unwrap(), 0x100);
    }
}
