//! BARs mapped into the address space with `mmap64`: 64-bit targets only.
//!
//! On a 32-bit target this module does not exist. A 32-bit process has 4 GiB of
//! address space in all, so it cannot map a BAR of 4 GiB or more, and the 2015
//! report showed what happens when VFIO's 64-bit region offsets meet 32-bit
//! types: every BAR but BAR0 mapped the wrong thing, silently. Use
//! [`RegionIo`](crate::vfio::RegionIo) there: `pread64`/`pwrite64` take a 64-bit
//! offset on every target.
//!
//! Accesses are volatile loads and stores through raw pointers; no Rust reference
//! to device memory is ever created. A mapping borrows the device's file
//! descriptor, so it cannot outlive the device:
//!
//! ```compile_fail
//! use std::os::fd::AsFd;
//! use dpdk_safe::vfio::{MappedRegion, RegionFlags, RegionIndex, RegionInfo, Registers};
//! let file = std::fs::File::open("/dev/zero").unwrap();
//! let info = RegionInfo {
//!     index: RegionIndex::BAR0, offset: 0, size: 4096,
//!     flags: RegionFlags { readable: true, writable: false, mmap: true },
//!     sparse_mmap: None, msix_mappable: false, caps: vec![],
//! };
//! let bar = MappedRegion::map(file.as_fd(), &info).unwrap();
//! drop(file); // error: `file` is borrowed by `bar`
//! bar.read32(0).unwrap();
//! ```

use std::io;
use std::marker::PhantomData;
use std::ops::Range;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::ptr::NonNull;

use crate::vfio::access::{check_span, AccessError, Register, Registers};
use crate::vfio::region::{RegionIndex, RegionInfo};

/// The page size, which `mmap64` offsets and exclusions are rounded to.
fn page_size() -> u64 {
    // SAFETY: sysconf only reads a system constant.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u64::try_from(size)
        .ok()
        .filter(|s| s.is_power_of_two())
        .unwrap_or(4096)
}

/// Why a region could not be mapped.
#[derive(Debug, thiserror::Error)]
pub enum MapError {
    #[error("{region} cannot be mapped: the kernel does not report VFIO_REGION_INFO_FLAG_MMAP; use the pread/pwrite path")]
    NotMappable { region: RegionIndex },
    #[error("{region} is empty (the device does not implement it)")]
    Empty { region: RegionIndex },
    #[error("{region}: area 0x{offset:x}+0x{size:x} does not fit this process's address space or file offsets")]
    TooLarge {
        region: RegionIndex,
        offset: u64,
        size: u64,
    },
    #[error("{region}: nothing left to map after excluding the MSI-X table and other ranges")]
    NothingToMap { region: RegionIndex },
    #[error("{region}: mmap64 of 0x{offset:x}+0x{size:x} failed: {source}")]
    Mmap {
        region: RegionIndex,
        offset: u64,
        size: u64,
        source: io::Error,
    },
}

/// One contiguous mapped span, at `offset` inside the region.
#[derive(Debug)]
struct Span {
    offset: u64,
    len: u64,
    base: NonNull<u8>,
}

/// What the accessors' fast path needs, kept apart from the span list so that a
/// checked access is one compare against a length, an alignment test and the
/// load or store: the span mapped at region offset 0, its length rounded down to
/// a multiple of 8 and set to 0 when the region may not be read (`read_len`) or
/// written (`write_len`). Because the lengths are multiples of 8 and every
/// register width divides 8, an aligned `offset < len` implies that the whole
/// register lies inside the span. Anything else (other spans, the last bytes of
/// an odd-sized span, errors) takes the full check.
#[derive(Debug)]
struct FastSpan {
    base: NonNull<u8>,
    read_len: u64,
    write_len: u64,
}

impl FastSpan {
    fn of(spans: &[Span], info: &RegionInfo) -> Self {
        match spans.iter().find(|s| s.offset == 0) {
            Some(span) => {
                let len = span.len & !7;
                FastSpan {
                    base: span.base,
                    read_len: if info.flags.readable { len } else { 0 },
                    write_len: if info.flags.writable { len } else { 0 },
                }
            }
            None => FastSpan {
                base: NonNull::dangling(),
                read_len: 0,
                write_len: 0,
            },
        }
    }
}

/// A region of a VFIO device mapped into memory. Unmaps on drop.
#[derive(Debug)]
pub struct MappedRegion<'fd> {
    fast: FastSpan,
    info: RegionInfo,
    spans: Vec<Span>,
    /// False for a view of a mapping someone else made and unmaps (DPDK's).
    owned: bool,
    _fd: PhantomData<BorrowedFd<'fd>>,
}

// Send and Sync, like `RegionIo` (a `BorrowedFd` and plain data, so both
// automatically). Only the raw span pointers keep the compiler from deriving them.
// Through `&MappedRegion` every access is one aligned, volatile load or store of
// at most 8 bytes through a raw pointer into a live span (checked in `read`/`write`),
// and no Rust reference to the mapped bytes is ever made, so no `&`/`&mut`
// aliasing rule can be broken from another thread. Device memory is outside the
// Rust abstract machine: two threads touching one register get what the device
// does for two CPUs, exactly as with two `pwrite64` calls on the fd, which
// `RegionIo` already allows from several threads. What accesses mean together
// (locking a queue, ordering a doorbell after a descriptor) is the driver's
// protocol, as in C; no `&self` method changes the mapping itself.

// SAFETY: the mapping belongs to the process, not to the thread that made it;
// accesses and the munmap in Drop are valid from any thread.
unsafe impl Send for MappedRegion<'_> {}
// SAFETY: shared use is only volatile, aligned, bounds-checked raw-pointer
// accesses and reads of immutable bookkeeping (see the comment above).
unsafe impl Sync for MappedRegion<'_> {}

/// Subtracts `cut` from every range in `ranges`.
fn subtract(ranges: Vec<Range<u64>>, cut: &Range<u64>) -> Vec<Range<u64>> {
    let mut out = Vec::with_capacity(ranges.len() + 1);
    for r in ranges {
        if cut.end <= r.start || cut.start >= r.end {
            out.push(r);
            continue;
        }
        if r.start < cut.start {
            out.push(r.start..cut.start);
        }
        if cut.end < r.end {
            out.push(cut.end..r.end);
        }
    }
    out
}

impl<'fd> MappedRegion<'fd> {
    /// Maps the region (or, with a sparse-mmap capability, the areas the kernel
    /// allows).
    pub fn map(fd: BorrowedFd<'fd>, info: &RegionInfo) -> Result<Self, MapError> {
        Self::map_excluding(fd, info, &[])
    }

    /// Maps the region minus `exclude` (region-relative ranges, widened to whole
    /// pages), e.g. the MSI-X table when the kernel does not say it is mappable.
    pub fn map_excluding(
        fd: BorrowedFd<'fd>,
        info: &RegionInfo,
        exclude: &[Range<u64>],
    ) -> Result<Self, MapError> {
        let region = info.index;
        if !info.flags.mmap {
            return Err(MapError::NotMappable { region });
        }
        if info.size == 0 {
            return Err(MapError::Empty { region });
        }
        let mut ranges: Vec<Range<u64>> = match &info.sparse_mmap {
            Some(areas) => areas
                .iter()
                .filter(|a| a.size > 0)
                .map(|a| a.offset..a.offset.saturating_add(a.size).min(info.size))
                .collect(),
            None => std::iter::once(0..info.size).collect(),
        };
        let page = page_size();
        for cut in exclude {
            let widened = (cut.start / page * page)..cut.end.div_ceil(page).saturating_mul(page);
            ranges = subtract(ranges, &widened);
        }
        ranges.retain(|r| r.start < r.end);
        if ranges.is_empty() {
            return Err(MapError::NothingToMap { region });
        }
        let mut mapped = MappedRegion {
            fast: FastSpan::of(&[], info),
            info: info.clone(),
            spans: Vec::new(),
            owned: true,
            _fd: PhantomData,
        };
        for r in ranges {
            // On error, `mapped` drops and unmaps what was mapped so far.
            let span = map_span(fd, info, r)?;
            mapped.spans.push(span);
        }
        mapped.fast = FastSpan::of(&mapped.spans, info);
        Ok(mapped)
    }

    /// A view of a mapping made elsewhere, e.g. a BAR DPDK mapped for a driver.
    ///
    /// # Safety
    ///
    /// `base..base + info.size` must stay mapped, with the access `info.flags`
    /// allows, for as long as the returned value lives; it is not unmapped on drop.
    pub(crate) unsafe fn borrowed(base: NonNull<u8>, info: RegionInfo) -> Self {
        let span = Span {
            offset: 0,
            len: info.size,
            base,
        };
        let spans = vec![span];
        MappedRegion {
            fast: FastSpan::of(&spans, &info),
            info,
            spans,
            owned: false,
            _fd: PhantomData,
        }
    }

    pub fn info(&self) -> &RegionInfo {
        &self.info
    }

    /// The mapped parts of the region as region-relative ranges.
    pub fn mapped_ranges(&self) -> Vec<Range<u64>> {
        self.spans
            .iter()
            .map(|s| s.offset..s.offset + s.len)
            .collect()
    }

    /// The address of `offset`, after bounds, alignment and coverage checks
    /// against every span: the slow path of the accessors.
    fn pointer<T: Register>(&self, offset: u64) -> Result<*mut T, AccessError> {
        let width = T::WIDTH as u64;
        let end = check_span(&self.info, offset, width, true)?;
        let span = self
            .spans
            .iter()
            .find(|s| s.offset <= offset && end <= s.offset + s.len)
            .ok_or(AccessError::NotMapped {
                region: self.info.index,
                offset,
                width,
            })?;
        // SAFETY: offset - span.offset + width <= span.len, so the pointer stays
        // inside the span's mapping; the cast fits usize because the span was mapped.
        Ok(unsafe { span.base.as_ptr().add((offset - span.offset) as usize) }.cast::<T>())
    }

    /// Everything but the fast path of `read`: other spans, and the errors.
    #[cold]
    #[inline(never)]
    fn read_slow<T: Register>(&self, offset: u64) -> Result<T, AccessError> {
        if !self.info.flags.readable {
            return Err(AccessError::NotReadable {
                region: self.info.index,
            });
        }
        let ptr = self.pointer::<T>(offset)?;
        // SAFETY: ptr is aligned and inside a live mapping (checked by pointer()).
        Ok(T::from_le(unsafe { ptr.read_volatile() }))
    }

    /// Everything but the fast path of `write`: other spans, and the errors.
    #[cold]
    #[inline(never)]
    fn write_slow<T: Register>(&self, offset: u64, value: T) -> Result<(), AccessError> {
        if !self.info.flags.writable {
            return Err(AccessError::NotWritable {
                region: self.info.index,
            });
        }
        let ptr = self.pointer::<T>(offset)?;
        // SAFETY: ptr is aligned and inside a live, writable mapping.
        unsafe { ptr.write_volatile(value.to_le()) };
        Ok(())
    }

    /// The address where the region's offset 0 is mapped, if it is, for handing
    /// the BAR to C code. Dereferencing it is the caller's `unsafe`: volatile
    /// accesses only, within [`mapped_ranges`](Self::mapped_ranges), while `self` lives.
    pub fn as_ptr(&self) -> Option<*mut u8> {
        self.spans
            .iter()
            .find(|s| s.offset == 0)
            .map(|s| s.base.as_ptr())
    }

    /// A view of the first `SIZE` bytes whose accessors take constant offsets and
    /// are checked at compile time. Checks once, here, that one mapped span covers
    /// `0..SIZE` and that the region is readable and writable.
    pub fn fixed<const SIZE: usize>(&self) -> Result<FixedMapping<'_, SIZE>, AccessError> {
        let region = self.info.index;
        if !self.info.flags.readable {
            return Err(AccessError::NotReadable { region });
        }
        if !self.info.flags.writable {
            return Err(AccessError::NotWritable { region });
        }
        let span = self
            .spans
            .iter()
            .find(|s| s.offset == 0 && s.len >= SIZE as u64)
            .ok_or(AccessError::NotMapped {
                region,
                offset: 0,
                width: SIZE as u64,
            })?;
        Ok(FixedMapping {
            base: span.base,
            _region: PhantomData,
        })
    }
}

impl Registers for MappedRegion<'_> {
    /// Volatile read of one register; the offset must be aligned to its width.
    #[inline]
    fn read<T: Register>(&self, offset: u64) -> Result<T, AccessError> {
        let width = T::WIDTH as u64;
        // Fast path: aligned and below read_len (see FastSpan), which is 0 when
        // the region is not readable or nothing is mapped at offset 0.
        if offset < self.fast.read_len && offset % width == 0 {
            // read_len is a multiple of 8 (so of the width), at most the length
            // of the live span at `base`, and 0 unless the region is readable.
            // SAFETY: aligned, and offset + width <= read_len, so inside that
            // span; the cast fits usize because the span is mapped.
            return Ok(T::from_le(unsafe {
                self.fast
                    .base
                    .as_ptr()
                    .add(offset as usize)
                    .cast::<T>()
                    .read_volatile()
            }));
        }
        self.read_slow(offset)
    }

    /// Volatile write of one register; the offset must be aligned to its width.
    #[inline]
    fn write<T: Register>(&self, offset: u64, value: T) -> Result<(), AccessError> {
        let width = T::WIDTH as u64;
        if offset < self.fast.write_len && offset % width == 0 {
            // SAFETY: as in read(): aligned and inside the live span at `base`;
            // write_len is non-zero only for a writable region.
            unsafe {
                self.fast
                    .base
                    .as_ptr()
                    .add(offset as usize)
                    .cast::<T>()
                    .write_volatile(value.to_le())
            };
            return Ok(());
        }
        self.write_slow(offset, value)
    }
}

fn map_span(fd: BorrowedFd<'_>, info: &RegionInfo, r: Range<u64>) -> Result<Span, MapError> {
    let region = info.index;
    let size = r.end - r.start;
    let too_large = || MapError::TooLarge {
        region,
        offset: r.start,
        size,
    };
    let len = usize::try_from(size).map_err(|_| too_large())?;
    let file_offset = info
        .offset
        .checked_add(r.start)
        .and_then(|o| libc::off64_t::try_from(o).ok())
        .ok_or_else(too_large)?;
    let mut prot = 0;
    if info.flags.readable {
        prot |= libc::PROT_READ;
    }
    if info.flags.writable {
        prot |= libc::PROT_WRITE;
    }
    // SAFETY: a fresh shared mapping chosen by the kernel (no fixed address), of a
    // file range the kernel said may be mapped; the result is checked.
    let ptr = unsafe {
        libc::mmap64(
            std::ptr::null_mut(),
            len,
            prot,
            libc::MAP_SHARED,
            fd.as_raw_fd(),
            file_offset,
        )
    };
    if ptr == libc::MAP_FAILED {
        return Err(MapError::Mmap {
            region,
            offset: r.start,
            size,
            source: io::Error::last_os_error(),
        });
    }
    let base = NonNull::new(ptr.cast::<u8>()).ok_or_else(too_large)?;
    Ok(Span {
        offset: r.start,
        len: size,
        base,
    })
}

impl Drop for MappedRegion<'_> {
    fn drop(&mut self) {
        if !self.owned {
            return;
        }
        for span in &self.spans {
            // SAFETY: each span is a mapping made by map_span and unmapped once,
            // here; no pointer into it outlives self (FixedMapping borrows self).
            unsafe { libc::munmap(span.base.as_ptr().cast(), span.len as usize) };
        }
    }
}

/// The first `SIZE` bytes of a mapped region, with accessors whose offsets are
/// constants checked at compile time: no run-time bounds check is left.
///
/// ```compile_fail
/// use dpdk_safe::vfio::FixedMapping;
/// fn past_the_end(bar: &FixedMapping<'_, 256>) -> u32 {
///     bar.read32::<256>() // error: offset 256 + 4 bytes is past SIZE = 256
/// }
/// std::hint::black_box(past_the_end as fn(&FixedMapping<'_, 256>) -> u32);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct FixedMapping<'m, const SIZE: usize> {
    base: NonNull<u8>,
    _region: PhantomData<&'m MappedRegion<'m>>,
}

// SAFETY: a FixedMapping is a checked window on a `&MappedRegion` (it borrows
// one): the same volatile-only accesses, so it may cross and be shared between
// threads for the reasons given for MappedRegion's Send and Sync.
unsafe impl<const SIZE: usize> Send for FixedMapping<'_, SIZE> {}
// SAFETY: as for Send above.
unsafe impl<const SIZE: usize> Sync for FixedMapping<'_, SIZE> {}

impl<const SIZE: usize> FixedMapping<'_, SIZE> {
    /// Volatile read at constant `OFFSET`, checked at compile time.
    #[inline(always)]
    pub fn read<T: Register, const OFFSET: usize>(&self) -> T {
        const {
            assert!(
                OFFSET % T::WIDTH == 0 && OFFSET + T::WIDTH <= SIZE,
                "offset out of range or unaligned"
            )
        };
        // SAFETY: OFFSET + width <= SIZE, and fixed() checked that a readable
        // mapping covers 0..SIZE from base; OFFSET is aligned to the width.
        T::from_le(unsafe { self.base.as_ptr().add(OFFSET).cast::<T>().read_volatile() })
    }

    /// Volatile write at constant `OFFSET`, checked at compile time.
    #[inline(always)]
    pub fn write<T: Register, const OFFSET: usize>(&self, value: T) {
        const {
            assert!(
                OFFSET % T::WIDTH == 0 && OFFSET + T::WIDTH <= SIZE,
                "offset out of range or unaligned"
            )
        };
        // SAFETY: as in read(); fixed() checked the mapping is writable.
        unsafe {
            self.base
                .as_ptr()
                .add(OFFSET)
                .cast::<T>()
                .write_volatile(value.to_le())
        }
    }

    #[inline(always)]
    pub fn read32<const OFFSET: usize>(&self) -> u32 {
        self.read::<u32, OFFSET>()
    }

    #[inline(always)]
    pub fn write32<const OFFSET: usize>(&self, value: u32) {
        self.write::<u32, OFFSET>(value)
    }

    #[inline(always)]
    pub fn read64<const OFFSET: usize>(&self) -> u64 {
        self.read::<u64, OFFSET>()
    }

    #[inline(always)]
    pub fn write64<const OFFSET: usize>(&self, value: u64) {
        self.write::<u64, OFFSET>(value)
    }
}

#[cfg(test)]
mod tests {
    use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};

    use super::*;
    use crate::vfio::caps::SparseArea;
    use crate::vfio::region::RegionFlags;

    fn memfd(size: u64) -> OwnedFd {
        let name = std::ffi::CString::new("mapping-fast-path").unwrap();
        // SAFETY: a valid name; the result is checked and owned below.
        let raw = unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC) };
        assert!(raw >= 0);
        // SAFETY: raw is a fresh descriptor owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: fd is a valid memfd.
        assert_eq!(unsafe { libc::ftruncate(fd.as_raw_fd(), size as i64) }, 0);
        fd
    }

    fn info(size: u64, readable: bool, writable: bool) -> RegionInfo {
        RegionInfo {
            index: RegionIndex::BAR0,
            offset: 0,
            size,
            flags: RegionFlags {
                readable,
                writable,
                mmap: true,
            },
            sparse_mmap: None,
            msix_mappable: false,
            caps: vec![],
        }
    }

    #[test]
    fn odd_sized_region_tail_takes_the_slow_path() {
        let fd = memfd(8192);
        let bar = MappedRegion::map(fd.as_fd(), &info(4102, true, true)).unwrap();
        assert_eq!(bar.fast.read_len, 4096);
        bar.write16(4100, 0xbeef).unwrap();
        assert_eq!(bar.read16(4100).unwrap(), 0xbeef);
        bar.write32(4096, 0x1234_5678).unwrap();
        assert_eq!(bar.read32(4096).unwrap(), 0x1234_5678);
        assert!(matches!(
            bar.read32(4100),
            Err(AccessError::OutOfBounds { .. })
        ));
        assert!(matches!(
            bar.read64(4096),
            Err(AccessError::OutOfBounds { .. })
        ));
        assert!(matches!(bar.read32(2), Err(AccessError::Unaligned { .. })));
        assert!(matches!(
            bar.write64(u64::MAX - 3, 0),
            Err(AccessError::OutOfBounds { .. })
        ));
    }

    #[test]
    fn flags_gate_the_fast_path() {
        let fd = memfd(4096);
        let ro = MappedRegion::map(fd.as_fd(), &info(4096, true, false)).unwrap();
        assert_eq!((ro.fast.read_len, ro.fast.write_len), (4096, 0));
        assert!(matches!(
            ro.write32(0, 1),
            Err(AccessError::NotWritable { .. })
        ));
        assert_eq!(ro.read32(0).unwrap(), 0);
        let wo = MappedRegion::map(fd.as_fd(), &info(4096, false, true)).unwrap();
        assert_eq!((wo.fast.read_len, wo.fast.write_len), (0, 4096));
        assert!(matches!(wo.read32(0), Err(AccessError::NotReadable { .. })));
        wo.write32(8, 7).unwrap();
    }

    #[test]
    fn spans_not_at_zero_use_the_slow_path() {
        let page = page_size();
        let fd = memfd(4 * page);
        let mut sparse = info(4 * page, true, true);
        sparse.sparse_mmap = Some(vec![SparseArea {
            offset: page,
            size: page,
        }]);
        let bar = MappedRegion::map(fd.as_fd(), &sparse).unwrap();
        assert_eq!((bar.fast.read_len, bar.fast.write_len), (0, 0));
        bar.write32(page + 4, 42).unwrap();
        assert_eq!(bar.read32(page + 4).unwrap(), 42);
        assert!(matches!(bar.read32(0), Err(AccessError::NotMapped { .. })));
        assert!(matches!(
            bar.read32(2 * page),
            Err(AccessError::NotMapped { .. })
        ));
    }
}
