//! BARs mapped into the address space with `mmap64`: 64-bit targets only.
//!
//! On a 32-bit target this module does not exist. A 32-bit process has 4 GiB of
//! address space in all, so it cannot map a BAR of 4 GiB or more, and the 2015
//! report showed what happens when VFIO's 64-bit region offsets meet 32-bit
//! types: every BAR but BAR0 mapped the wrong thing, silently. Use
//! [`RegionIo`](crate::RegionIo) there: `pread64`/`pwrite64` take a 64-bit
//! offset on every target.
//!
//! Accesses are volatile loads and stores through raw pointers; no Rust reference
//! to device memory is ever created.
//!
//! # Where mappings come from
//!
//! The one safe way to map a region is
//! [`VfioDevice::map_bar`](crate::VfioDevice::map_bar), which maps the
//! device's own file descriptor with the region information it asks the kernel
//! for itself, so that what is mapped is device memory the kernel vouches for:
//!
//! ```no_run
//! use dpdk_safe::{BarError, RegionIndex, Registers, VfioDevice};
//! fn status(dev: &VfioDevice<'_>) -> Result<u32, BarError> {
//!     let bar = dev.map_bar(RegionIndex::BAR0)?;
//!     Ok(bar.read32(0x8)?)
//! }
//! ```
//!
//! A [`MappedRegion`] owns its mapping and unmaps it on drop; its accessors are
//! those of the [`RegionView`] it dereferences to. DPDK's own mappings of a
//! probed device's BARs are reached as a `RegionView` alone
//! (`ProbedDevice::bar`): DPDK unmaps them, so nothing here owns them.
//!
//! Mapping any other
//! file is [`MappedRegion::map_file`], which is `unsafe`: a file shorter than
//! the region gives SIGBUS, and ordinary memory written by another thread at
//! the same time is a data race. From safe code it does not compile:
//!
//! ```compile_fail,E0133
//! use std::os::fd::AsFd;
//! use dpdk_safe::{FileRegion, MappedRegion, RegionIndex};
//! let file = std::fs::File::open("/dev/zero").unwrap();
//! let region = FileRegion::new(RegionIndex::BAR0, 0, 1 << 30);
//! // error[E0133]: call to unsafe function `MappedRegion::map_file` is unsafe
//! let bar = MappedRegion::map_file(file.as_fd(), &region, &[]);
//! ```
//!
//! # Lifetimes
//!
//! A mapping borrows the file descriptor it maps, so it cannot outlive it, even
//! when made in an `unsafe` block:
//!
//! ```compile_fail,E0505
//! use std::os::fd::AsFd;
//! use dpdk_safe::{FileRegion, MappedRegion, RegionIndex, Registers};
//! let file = std::fs::File::open("/dev/zero").unwrap();
//! let region = FileRegion::new(RegionIndex::BAR0, 0, 4096);
//! // SAFETY: /dev/zero is never short, and nothing else touches the mapping.
//! let bar = unsafe { MappedRegion::map_file(file.as_fd(), &region, &[]) }.unwrap();
//! drop(file); // error[E0505]: cannot move out of `file` because it is borrowed
//! bar.read32(0).unwrap();
//! ```
//!
//! # Alignment
//!
//! Every access is aligned to its width in the region (`offset % width == 0`)
//! and at its address: a span whose address is not aligned for the access
//! gives [`AccessError::UnalignedAddress`], never an unaligned volatile access.
//! `mmap64` returns page-aligned addresses, so for mappings this module makes
//! the second check never fails; it guards views of mappings made elsewhere.

use std::io;
use std::marker::PhantomData;
use std::ops::Range;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::ptr::NonNull;

use crate::io::error::AccessError;
use crate::io::region::{FileRegion, RegionIndex};
use crate::io::register::{Register, Registers};
use crate::io::window::{Op, Window};

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
#[non_exhaustive]
pub enum MapError {
    /// The kernel does not allow mmap of this region; use the pread/pwrite path.
    #[error("{region} cannot be mapped: the kernel does not report VFIO_REGION_INFO_FLAG_MMAP; use the pread/pwrite path")]
    NotMappable {
        /// The region asked for.
        region: RegionIndex,
    },
    /// The region has size 0: the device does not implement it.
    #[error("{region} is empty (the device does not implement it)")]
    Empty {
        /// The region asked for.
        region: RegionIndex,
    },
    /// A span to map does not fit `usize` or `off_t` of this target.
    #[error("{region}: area 0x{offset:x}+0x{size:x} does not fit this process's address space or file offsets")]
    TooLarge {
        /// The region being mapped.
        region: RegionIndex,
        /// Start of the span, in bytes from the start of the region.
        offset: u64,
        /// Length of the span, in bytes.
        size: u64,
    },
    /// The MSI-X table and the other excluded ranges cover every mmap-able byte.
    #[error("{region}: nothing left to map after excluding the MSI-X table and other ranges")]
    NothingToMap {
        /// The region asked for.
        region: RegionIndex,
    },
    /// `mmap64` maps whole pages: a region whose file offset is not a multiple
    /// of the page size cannot be mapped.
    #[error("{region} starts at file offset 0x{offset:x}, not a multiple of the page size (0x{page:x}), so it cannot be mapped; use the pread/pwrite path")]
    UnalignedRegion {
        /// The region being mapped.
        region: RegionIndex,
        /// The region's offset in the device file descriptor, in bytes.
        offset: u64,
        /// The page size, in bytes.
        page: u64,
    },
    /// A sparse-mmap area that does not start on a page boundary cannot be
    /// mapped on its own.
    #[error("{region}: mmap-able area 0x{offset:x}+0x{size:x} does not start on a page boundary (page size 0x{page:x}), so it cannot be mapped; use the pread/pwrite path")]
    UnalignedArea {
        /// The region being mapped.
        region: RegionIndex,
        /// Start of the area, in bytes from the start of the region.
        offset: u64,
        /// Length of the area, in bytes.
        size: u64,
        /// The page size, in bytes.
        page: u64,
    },
    /// A sparse-mmap area the kernel reported starts at or past the end of the region.
    #[error("{region}: mmap-able area 0x{offset:x}+0x{size:x} starts past the end of the region (size 0x{region_size:x})")]
    AreaOutsideRegion {
        /// The region being mapped.
        region: RegionIndex,
        /// Start of the area, in bytes from the start of the region.
        offset: u64,
        /// Length of the area, in bytes.
        size: u64,
        /// Size of the region, in bytes.
        region_size: u64,
    },
    /// The `mmap64` call failed.
    #[error("{region}: mmap64 of 0x{offset:x}+0x{size:x} failed: {source}")]
    Mmap {
        /// The region being mapped.
        region: RegionIndex,
        /// Start of the span, in bytes from the start of the region.
        offset: u64,
        /// Length of the span, in bytes.
        size: u64,
        /// The error `mmap64` returned.
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
/// load or store: the span mapped at region offset 0, its length (at most the
/// region's size) rounded down to a multiple of 8, and set to 0 when the region
/// may not be read (`read_len`) or written (`write_len`), or when the span's
/// base address is not 8-byte aligned. Because the lengths are multiples of 8
/// and every register width divides 8, an aligned `offset < len` implies that
/// the whole register lies inside the span; because the base is 8-byte aligned,
/// it implies that the register's address is aligned too. Anything else (other
/// spans, the last bytes of an odd-sized span, a misaligned base, errors) takes
/// the full check.
#[derive(Debug)]
struct FastSpan {
    base: NonNull<u8>,
    read_len: u64,
    write_len: u64,
}

impl FastSpan {
    fn of(spans: &[Span], window: &Window) -> Self {
        match spans.iter().find(|s| s.offset == 0) {
            Some(span) if span.base.as_ptr().cast::<u64>().is_aligned() => {
                let len = span.len.min(window.size()) & !7;
                FastSpan {
                    base: span.base,
                    read_len: if window.readable() { len } else { 0 },
                    write_len: if window.writable() { len } else { 0 },
                }
            }
            _ => FastSpan {
                base: NonNull::dangling(),
                read_len: 0,
                write_len: 0,
            },
        }
    }
}

/// Mapped spans of a region, with volatile accessors: what a [`MappedRegion`]
/// dereferences to, and what a view of a mapping made elsewhere (DPDK's BAR
/// mappings for a probed device) is. A view owns nothing: it borrows the
/// mapping for `'a` and never unmaps it.
///
/// # Memory decoding off: SIGBUS
///
/// While the device's memory decoding is off (bit 1 of the PCI Command
/// register cleared, through [`VfioDevice::config`](crate::VfioDevice::config)
/// or by a reset in progress), vfio-pci revokes the mapping and an access
/// through it raises SIGBUS: the process stops, no memory is corrupted. The
/// types cannot prevent it (config space is the device's own business); turn
/// decoding back on before touching the mapping again. Tested in the VM
/// (`vm_devices::a_mapped_access_with_memory_decoding_off_is_sigbus`).
#[derive(Debug)]
pub struct RegionView<'a> {
    fast: FastSpan,
    window: Window,
    spans: Vec<Span>,
    _mapping: PhantomData<&'a ()>,
}

/// A region of a file (a VFIO device's BAR) mapped into memory by this crate.
/// Unmaps on drop; the accessors are those of the [`RegionView`] it
/// dereferences to (and [`Registers`], for generic code).
///
/// Made by [`VfioDevice::map_bar`](crate::VfioDevice::map_bar) (safe) or by
/// [`MappedRegion::map_file`] (`unsafe`: any file).
#[derive(Debug)]
pub struct MappedRegion<'fd> {
    view: RegionView<'fd>,
    _fd: PhantomData<BorrowedFd<'fd>>,
}

// Send and Sync, like `RegionIo` (a `BorrowedFd` and plain data, so both
// automatically). Only the raw span pointers keep the compiler from deriving them.
// Through `&RegionView` every access is one volatile load or store of at most
// 8 bytes, aligned at its address, through a raw pointer into a live span
// (checked in `read`/`write`), and no Rust reference to the mapped bytes is ever
// made, so no `&`/`&mut` aliasing rule can be broken from another thread.
//
// What two threads' accesses to one register mean rests on what is mapped, and
// every constructor makes sure of it: `VfioDevice::map_bar` maps a region of a
// VFIO device with the kernel's own description of it, which vfio-pci backs
// with the BAR (device memory, outside the Rust abstract machine, VM_IO |
// VM_PFNMAP); DPDK's BAR mappings are the same memory. Two threads touching one
// register there get what the device does for two CPUs, exactly as with two
// `pwrite64` calls on the fd, which `RegionIo` already allows from several
// threads. Over ordinary memory (a memfd) the same two volatile writes would be
// a data race, which is why `map_file` is `unsafe` and makes its caller promise
// that none happens. What accesses mean together (locking a queue, ordering a
// doorbell after a descriptor) is the driver's protocol, as in C; no `&self`
// method changes the mapping itself.

// SAFETY: the mapping belongs to the process, not to the thread that made it;
// accesses (and the munmap in MappedRegion's Drop) are valid from any thread.
unsafe impl Send for RegionView<'_> {}
// SAFETY: shared use is only volatile, aligned, bounds-checked raw-pointer
// accesses to device memory (or memory map_file's caller keeps race-free) and
// reads of immutable bookkeeping (see the comment above).
unsafe impl Sync for RegionView<'_> {}

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

/// The region-relative ranges to map for `region`: the whole region, or its
/// sparse areas (clipped to the region), minus `exclude` widened to whole pages
/// (an MSI-X table the kernel does not let be mapped shares its pages with
/// nothing that is). Every range starts on a page boundary, at a page-aligned
/// file offset, and is not empty; the list is not empty.
///
/// Used for the mappings this module makes and for views of DPDK's.
pub(crate) fn mappable_ranges(
    region: &FileRegion,
    exclude: &[Range<u64>],
) -> Result<Vec<Range<u64>>, MapError> {
    ranges_with_page(region, exclude, page_size())
}

/// [`mappable_ranges`] for a given page size (a power of two).
fn ranges_with_page(
    file: &FileRegion,
    exclude: &[Range<u64>],
    page: u64,
) -> Result<Vec<Range<u64>>, MapError> {
    let region = file.index;
    if file.size == 0 {
        return Err(MapError::Empty { region });
    }
    if file.offset % page != 0 {
        return Err(MapError::UnalignedRegion {
            region,
            offset: file.offset,
            page,
        });
    }
    let mut ranges = Vec::new();
    match &file.sparse {
        Some(areas) => {
            for area in areas.iter().filter(|a| a.size > 0) {
                if area.offset % page != 0 {
                    return Err(MapError::UnalignedArea {
                        region,
                        offset: area.offset,
                        size: area.size,
                        page,
                    });
                }
                if area.offset >= file.size {
                    return Err(MapError::AreaOutsideRegion {
                        region,
                        offset: area.offset,
                        size: area.size,
                        region_size: file.size,
                    });
                }
                ranges.push(area.offset..area.offset.saturating_add(area.size).min(file.size));
            }
        }
        None => ranges.push(0..file.size),
    }
    // An empty exclusion excludes nothing; the others are widened to pages, so
    // every range left starts where an area or an exclusion's last page ends:
    // on a page boundary.
    for cut in exclude.iter().filter(|c| c.start < c.end) {
        let widened = (cut.start / page * page)..cut.end.div_ceil(page).saturating_mul(page);
        ranges = subtract(ranges, &widened);
    }
    ranges.retain(|r| r.start < r.end);
    if ranges.is_empty() {
        return Err(MapError::NothingToMap { region });
    }
    Ok(ranges)
}

impl<'fd> MappedRegion<'fd> {
    /// Maps `region` of any file (a regular file, or a memfd standing in for a
    /// VFIO device file in tests and benchmarks), or, with `region.sparse`, only
    /// those areas, minus `exclude` (region-relative ranges, widened to whole
    /// pages). [`VfioDevice::map_bar`](crate::VfioDevice::map_bar) is the
    /// safe way to map a device's BAR.
    ///
    /// The description is checked as for a device (page-aligned offset and
    /// areas, something left to map; see [`MapError`]), and every access
    /// through the result is checked against it, but nothing can check what the
    /// file is, hence `unsafe`.
    ///
    /// # Safety
    ///
    /// For as long as the returned value (or a [`FixedMapping`] of it) lives:
    ///
    /// * the file behind `fd` holds at least `region.offset + end` bytes for
    ///   the end of every mapped range (all of `region.size` without `sparse`)
    ///   and is not truncated below that, by this process or another one: a
    ///   mapped page past the end of a file gives SIGBUS on access;
    /// * the mapped memory is not accessed in a way that races with this
    ///   mapping's volatile loads and stores: if it is ordinary memory (a
    ///   regular file, a memfd, shared memory), no other thread writes a byte
    ///   while another thread reads or writes it, whether through this mapping
    ///   (`MappedRegion` is `Sync`: the caller must not share it with threads
    ///   that touch the same bytes concurrently), another mapping of the file,
    ///   or Rust references to it; device memory may be accessed concurrently,
    ///   as by several CPUs;
    /// * the file is opened for reading when `region.readable` and for writing
    ///   when `region.writable` (otherwise `mmap64` fails, which is an error,
    ///   not undefined behaviour).
    pub unsafe fn map_file(
        fd: BorrowedFd<'fd>,
        region: &FileRegion,
        exclude: &[Range<u64>],
    ) -> Result<Self, MapError> {
        let ranges = mappable_ranges(region, exclude)?;
        let window = region.window();
        let mut mapped = MappedRegion {
            view: RegionView {
                fast: FastSpan::of(&[], &window),
                window,
                spans: Vec::with_capacity(ranges.len()),
                _mapping: PhantomData,
            },
            _fd: PhantomData,
        };
        for r in ranges {
            // On error, `mapped` drops and unmaps what was mapped so far.
            // That the file range is there to access and is not raced on is
            // this function's caller's guarantee (# Safety).
            let span = map_span(fd, region, r)?;
            mapped.view.spans.push(span);
        }
        mapped.view.fast = FastSpan::of(&mapped.view.spans, &mapped.view.window);
        Ok(mapped)
    }

    /// The mapped spans and their accessors (also reached through `Deref`).
    pub fn view(&self) -> &RegionView<'fd> {
        &self.view
    }
}

impl<'fd> std::ops::Deref for MappedRegion<'fd> {
    type Target = RegionView<'fd>;
    fn deref(&self) -> &RegionView<'fd> {
        &self.view
    }
}

impl<'a> RegionView<'a> {
    /// A view of a mapping made elsewhere (e.g. BARs DPDK mapped for a driver):
    /// region offset `r.start` is at `base + r.start` for each `r` in `ranges`
    /// (clipped to `window.size()`; empty ones are dropped). The accessors check
    /// permissions and bounds against `window` and the ranges, and alignment
    /// against the real addresses, so `base` need not be aligned.
    ///
    /// # Safety
    ///
    /// For `'a`, `base + r.start .. base + r.end` stays mapped for each range,
    /// readable when the window is readable and writable when it is writable,
    /// and is memory that the view's volatile accesses from several threads
    /// cannot race on (device memory, or memory nothing else writes
    /// concurrently): see [`MappedRegion::map_file`].
    pub(crate) unsafe fn new(window: Window, base: NonNull<u8>, ranges: Vec<Range<u64>>) -> Self {
        let spans: Vec<Span> = ranges
            .into_iter()
            .map(|r| r.start..r.end.min(window.size()))
            .filter(|r| r.start < r.end)
            .map(|r| Span {
                offset: r.start,
                len: r.end - r.start,
                // wrapping_add: `base` itself need not be inside a mapping (a
                // sparse view), so no in-bounds offset from it is claimed; the
                // caller guarantees the result is a mapped address, so not null.
                // `as usize` is lossless: this module exists on 64-bit targets only.
                base: NonNull::new(base.as_ptr().wrapping_add(r.start as usize))
                    .expect("a mapped address is not null"),
            })
            .collect();
        RegionView {
            fast: FastSpan::of(&spans, &window),
            window,
            spans,
            _mapping: PhantomData,
        }
    }

    /// What may be accessed: the region, its size and permissions.
    pub fn window(&self) -> &Window {
        &self.window
    }

    /// The mapped parts of the region as region-relative ranges.
    pub fn mapped_ranges(&self) -> Vec<Range<u64>> {
        self.spans
            .iter()
            .map(|s| s.offset..s.offset + s.len)
            .collect()
    }

    /// The address of `offset`, after the window's checks (permission, bounds,
    /// alignment of the offset), coverage by a span and alignment of the
    /// address: the slow path of the accessors.
    fn pointer<T: Register>(&self, op: Op, offset: u64) -> Result<*mut T, AccessError> {
        let region = self.window.index();
        let width = T::WIDTH as u64;
        let end = self.window.check(op, offset, width, true)?;
        let span = self
            .spans
            .iter()
            .find(|s| s.offset <= offset && end <= s.offset + s.len)
            .ok_or(AccessError::NotMapped {
                region,
                offset,
                width,
            })?;
        // SAFETY: offset - span.offset + width <= span.len, so the pointer stays
        // inside the span's mapping; the cast fits usize because the span was mapped.
        let ptr = unsafe { span.base.as_ptr().add((offset - span.offset) as usize) }.cast::<T>();
        if !ptr.is_aligned() {
            return Err(AccessError::UnalignedAddress {
                region,
                offset,
                width,
            });
        }
        Ok(ptr)
    }

    /// Everything but the fast path of `read`: other spans, and the errors.
    #[cold]
    #[inline(never)]
    fn read_slow<T: Register>(&self, offset: u64) -> Result<T, AccessError> {
        let ptr = self.pointer::<T>(Op::Read, offset)?;
        // SAFETY: ptr is aligned (its address, checked by pointer()) and inside
        // a live span of a readable window.
        Ok(T::from_le(unsafe { ptr.read_volatile() }))
    }

    /// Everything but the fast path of `write`: other spans, and the errors.
    #[cold]
    #[inline(never)]
    fn write_slow<T: Register>(&self, offset: u64, value: T) -> Result<(), AccessError> {
        let ptr = self.pointer::<T>(Op::Write, offset)?;
        // SAFETY: ptr is aligned (its address) and inside a live span of a
        // writable window.
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
    /// `0..SIZE`, that its address is 8-byte aligned (so that every offset the
    /// accessors accept is aligned at its address too) and that the region is
    /// readable and writable.
    pub fn fixed<const SIZE: usize>(&self) -> Result<FixedMapping<'_, SIZE>, AccessError> {
        let region = self.window.index();
        self.window.check(Op::Read, 0, 0, false)?;
        self.window.check(Op::Write, 0, 0, false)?;
        let span = self
            .spans
            .iter()
            .find(|s| s.offset == 0 && s.len >= SIZE as u64)
            .ok_or(AccessError::NotMapped {
                region,
                offset: 0,
                width: SIZE as u64,
            })?;
        if !span.base.as_ptr().cast::<u64>().is_aligned() {
            return Err(AccessError::UnalignedAddress {
                region,
                offset: 0,
                width: 8,
            });
        }
        Ok(FixedMapping {
            base: span.base,
            _region: PhantomData,
        })
    }
}

impl Registers for RegionView<'_> {
    /// Volatile read of one register; the offset must be aligned to its width.
    #[inline]
    fn read<T: Register>(&self, offset: u64) -> Result<T, AccessError> {
        let width = T::WIDTH as u64;
        // Fast path: aligned and below read_len (see FastSpan), which is 0 when
        // the region is not readable, nothing is mapped at offset 0 or the span
        // there does not start at an 8-byte aligned address.
        if offset < self.fast.read_len && offset % width == 0 {
            // read_len is a multiple of 8 (so of the width), at most the length
            // of the live span at `base`, and 0 unless the region is readable and
            // `base` is 8-byte aligned.
            // SAFETY: base + offset is aligned (both are multiples of the width),
            // and offset + width <= read_len, so inside that span; the cast fits
            // usize because the span is mapped.
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
            // SAFETY: as in read(): aligned at its address and inside the live
            // span at `base`; write_len is non-zero only for a writable region.
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

impl Registers for MappedRegion<'_> {
    #[inline]
    fn read<T: Register>(&self, offset: u64) -> Result<T, AccessError> {
        self.view.read(offset)
    }

    #[inline]
    fn write<T: Register>(&self, offset: u64, value: T) -> Result<(), AccessError> {
        self.view.write(offset, value)
    }
}

fn map_span(fd: BorrowedFd<'_>, file: &FileRegion, r: Range<u64>) -> Result<Span, MapError> {
    let region = file.index;
    let size = r.end - r.start;
    let too_large = || MapError::TooLarge {
        region,
        offset: r.start,
        size,
    };
    let len = usize::try_from(size).map_err(|_| too_large())?;
    let file_offset = file
        .offset
        .checked_add(r.start)
        .and_then(|o| libc::off64_t::try_from(o).ok())
        .ok_or_else(too_large)?;
    let mut prot = 0;
    if file.readable {
        prot |= libc::PROT_READ;
    }
    if file.writable {
        prot |= libc::PROT_WRITE;
    }
    // SAFETY: a fresh shared mapping at an address the kernel chooses (no
    // MAP_FIXED), so no existing memory is touched; the result is checked. That
    // the file range is there to access and is not raced on is map_file's
    // caller's guarantee.
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
        for span in &self.view.spans {
            // SAFETY: each span is a mapping made by map_span and unmapped once,
            // here; no pointer into it outlives self (views and FixedMapping
            // borrow self).
            unsafe { libc::munmap(span.base.as_ptr().cast(), span.len as usize) };
        }
    }
}

/// The first `SIZE` bytes of a mapped region, with accessors whose offsets are
/// constants checked at compile time: no run-time bounds check is left.
///
/// ```compile_fail
/// use dpdk_safe::FixedMapping;
/// fn past_the_end(bar: &FixedMapping<'_, 256>) -> u32 {
///     bar.read32::<256>() // error: offset 256 + 4 bytes is past SIZE = 256
/// }
/// std::hint::black_box(past_the_end as fn(&FixedMapping<'_, 256>) -> u32);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct FixedMapping<'m, const SIZE: usize> {
    base: NonNull<u8>,
    _region: PhantomData<&'m RegionView<'m>>,
}

// SAFETY: a FixedMapping is a checked window on a `&RegionView` (it borrows
// one): the same volatile-only accesses, so it may cross and be shared between
// threads for the reasons given for RegionView's Send and Sync.
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
        // mapping covers 0..SIZE from base and that base is 8-byte aligned;
        // OFFSET is a multiple of the width, so base + OFFSET is aligned.
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

    /// Volatile 32-bit little-endian read at constant `OFFSET` (a multiple of 4, checked at compile
    /// time).
    #[inline(always)]
    pub fn read32<const OFFSET: usize>(&self) -> u32 {
        self.read::<u32, OFFSET>()
    }

    /// Volatile 32-bit little-endian write at constant `OFFSET` (a multiple of 4, checked at
    /// compile time).
    #[inline(always)]
    pub fn write32<const OFFSET: usize>(&self, value: u32) {
        self.write::<u32, OFFSET>(value)
    }

    /// Volatile 64-bit little-endian read at constant `OFFSET` (a multiple of 8, checked at compile
    /// time).
    #[inline(always)]
    pub fn read64<const OFFSET: usize>(&self) -> u64 {
        self.read::<u64, OFFSET>()
    }

    /// Volatile 64-bit little-endian write at constant `OFFSET` (a multiple of 8, checked at
    /// compile time).
    #[inline(always)]
    pub fn write64<const OFFSET: usize>(&self, value: u64) {
        self.write::<u64, OFFSET>(value)
    }
}

#[cfg(test)]
mod tests {
    //! Over heap buffers: no C, no mmap, so these run under Miri (tools/miri.sh),
    //! which checks the alignment and bounds of every volatile access.
    // Lists of one range are what the API returns and takes here.
    #![allow(clippy::single_range_in_vec_init)]
    use super::*;
    use crate::io::region::SparseArea;

    fn info(size: u64, readable: bool, writable: bool) -> Window {
        Window::new(RegionIndex::BAR0, size, readable, writable)
    }

    fn file(size: u64) -> FileRegion {
        FileRegion::new(RegionIndex::BAR0, 0, size)
    }

    /// A view of `buf` from byte `shift` on, `size` bytes of region.
    fn view_of(buf: &mut [u64], shift: usize, size: u64) -> RegionView<'static> {
        assert!(shift as u64 + size <= 8 * buf.len() as u64);
        let base = NonNull::new(buf.as_mut_ptr().cast::<u8>().wrapping_add(shift)).unwrap();
        // SAFETY: base..base + size lies inside `buf`, which every caller keeps
        // alive and otherwise untouched while the view lives; one thread only.
        unsafe { RegionView::new(info(size, true, true), base, vec![0..size]) }
    }

    fn unaligned_address(r: Result<impl std::fmt::Debug, AccessError>, at: u64, w: u64) {
        match r {
            Err(AccessError::UnalignedAddress { offset, width, .. }) => {
                assert_eq!((offset, width), (at, w))
            }
            other => panic!("{w}-byte access at {at}: expected UnalignedAddress, got {other:?}"),
        }
    }

    #[test]
    fn a_view_whose_base_is_not_aligned_refuses_unaligned_addresses() {
        let mut buf = vec![0u64; 8];
        {
            // Base 4 bytes into a u64 buffer: u32 accesses are aligned at their
            // address, u64 ones never are.
            let view = view_of(&mut buf, 4, 56);
            assert_eq!((view.fast.read_len, view.fast.write_len), (0, 0));
            for at in [0, 8, 16, 48] {
                unaligned_address(view.read64(at), at, 8);
                unaligned_address(view.write64(at, 1), at, 8);
            }
            view.write32(0, 0x1122_3344).unwrap();
            view.write32(4, 0x5566_7788).unwrap();
            assert_eq!(view.read32(0).unwrap(), 0x1122_3344);
            assert_eq!(view.read32(4).unwrap(), 0x5566_7788);
            view.write16(10, 0xabcd).unwrap();
            assert_eq!(view.read16(10).unwrap(), 0xabcd);
            assert_eq!(view.read8(11).unwrap(), 0xab);
            // Offset alignment is still checked first, with its own error.
            assert!(matches!(view.read64(4), Err(AccessError::Unaligned { .. })));
            unaligned_address(view.fixed::<16>().map(|_| ()), 0, 8);
        }
        // What the u32 writes at region offsets 0 and 4 hit: bytes 4..12.
        assert_eq!(buf[0] >> 32, 0x1122_3344);
        assert_eq!(buf[1] & 0xffff_ffff, 0x5566_7788);
        {
            // Base 2 bytes in: u32 and u64 accesses are unaligned, u16 ones not.
            let view = view_of(&mut buf, 2, 32);
            for at in [0, 4, 8, 28] {
                unaligned_address(view.read32(at), at, 4);
                unaligned_address(view.write32(at, 1), at, 4);
            }
            unaligned_address(view.read64(8), 8, 8);
            view.write16(6, 0x0102).unwrap();
            assert_eq!(view.read16(6).unwrap(), 0x0102);
        }
        {
            // Base 1 byte in: only bytes.
            let view = view_of(&mut buf, 1, 16);
            unaligned_address(view.read16(2), 2, 2);
            view.write8(3, 0x42).unwrap();
            assert_eq!(view.read8(3).unwrap(), 0x42);
        }
    }

    #[test]
    fn an_aligned_view_takes_the_fast_path() {
        let mut buf = vec![0u64; 8];
        {
            let view = view_of(&mut buf, 8, 52);
            // Clipped to the region's size, rounded down to 8.
            assert_eq!((view.fast.read_len, view.fast.write_len), (48, 48));
            view.write64(0, 0x0102_0304_0506_0708).unwrap();
            assert_eq!(view.read64(0).unwrap(), 0x0102_0304_0506_0708);
            view.write32(48, 7).unwrap();
            assert_eq!(view.read32(48).unwrap(), 7);
            assert!(matches!(
                view.read64(48),
                Err(AccessError::OutOfBounds { .. })
            ));
            let fixed = view.fixed::<16>().unwrap();
            assert_eq!(fixed.read64::<0>(), 0x0102_0304_0506_0708);
        }
        assert_eq!(buf[1], 0x0102_0304_0506_0708);
        assert_eq!(buf[7], 7);
    }

    #[test]
    fn a_view_places_each_range_at_base_plus_its_start() {
        let mut buf = vec![0u64; 8];
        let base = NonNull::new(buf.as_mut_ptr().cast::<u8>()).unwrap();
        {
            // SAFETY: both ranges (and the clipped third) lie inside `buf`,
            // alive and otherwise untouched while the view lives.
            let view = unsafe {
                RegionView::new(
                    info(60, true, true),
                    base,
                    vec![0..16, 32..48, 56..64, 20..20],
                )
            };
            assert_eq!(view.mapped_ranges(), [0..16, 32..48, 56..60]);
            view.write64(40, 0xfeed).unwrap();
            view.write32(56, 0xbeef).unwrap();
            assert!(matches!(
                view.read32(16),
                Err(AccessError::NotMapped { .. })
            ));
            assert!(matches!(
                view.read64(56),
                Err(AccessError::OutOfBounds { .. })
            ));
        }
        assert_eq!(buf[5], 0xfeed);
        assert_eq!(buf[7], 0xbeef);
    }

    #[test]
    fn flags_gate_the_fast_path() {
        let mut buf = vec![0u64; 4];
        let base = NonNull::new(buf.as_mut_ptr().cast::<u8>()).unwrap();
        // SAFETY: 0..32 lies inside `buf`, alive while the views live.
        let ro = unsafe { RegionView::new(info(32, true, false), base, vec![0..32]) };
        assert_eq!((ro.fast.read_len, ro.fast.write_len), (32, 0));
        assert!(matches!(
            ro.write32(0, 1),
            Err(AccessError::NotWritable { .. })
        ));
        assert_eq!(ro.read32(0).unwrap(), 0);
        assert!(ro.fixed::<8>().is_err());
        // SAFETY: as above.
        let wo = unsafe { RegionView::new(info(32, false, true), base, vec![0..32]) };
        assert_eq!((wo.fast.read_len, wo.fast.write_len), (0, 32));
        assert!(matches!(wo.read32(0), Err(AccessError::NotReadable { .. })));
        wo.write32(8, 7).unwrap();
    }

    fn sparse(size: u64, areas: &[(u64, u64)]) -> FileRegion {
        let mut info = file(size);
        info.sparse = Some(
            areas
                .iter()
                .map(|&(offset, size)| SparseArea { offset, size })
                .collect(),
        );
        info
    }

    #[test]
    fn ranges_come_from_sparse_areas_minus_page_widened_exclusions() {
        const P: u64 = 4096;
        let whole = file(4 * P);
        assert_eq!(ranges_with_page(&whole, &[], P).unwrap(), [0..4 * P]);
        // An MSI-X table at 0x1800..0x1900 takes its whole page out.
        assert_eq!(
            ranges_with_page(&whole, &[0x1800..0x1900], P).unwrap(),
            [0..P, 2 * P..4 * P]
        );
        // An empty exclusion excludes nothing.
        assert_eq!(
            ranges_with_page(&whole, &[0x1800..0x1800], P).unwrap(),
            [0..4 * P]
        );
        // Exclusions past the end, or up to u64::MAX, do not overflow.
        assert_eq!(
            ranges_with_page(&whole, &[3 * P + 1..u64::MAX], P).unwrap(),
            [0..3 * P]
        );
        // Areas are clipped to the region; empty ones are dropped.
        let areas = sparse(3 * P + 8, &[(0, P), (P, 0), (2 * P, u64::MAX)]);
        assert_eq!(
            ranges_with_page(&areas, &[], P).unwrap(),
            [0..P, 2 * P..3 * P + 8]
        );
        // An odd-sized region still starts its ranges on pages.
        let odd = file(P + 6);
        assert_eq!(ranges_with_page(&odd, &[], P).unwrap(), [0..P + 6]);
    }

    #[test]
    fn ranges_that_cannot_be_mapped_are_typed_errors() {
        const P: u64 = 4096;
        assert!(matches!(
            ranges_with_page(&file(0), &[], P),
            Err(MapError::Empty { .. })
        ));
        let mut odd_offset = file(P);
        odd_offset.offset = (2 << 40) + 8;
        let err = ranges_with_page(&odd_offset, &[], P).unwrap_err();
        assert!(
            matches!(err, MapError::UnalignedRegion { offset, page: P, .. } if offset == (2 << 40) + 8),
            "{err}"
        );
        let err = ranges_with_page(&sparse(4 * P, &[(0, P), (P + 8, P)]), &[], P).unwrap_err();
        assert!(
            matches!(
                err,
                MapError::UnalignedArea {
                    offset: 0x1008,
                    size: P,
                    page: P,
                    ..
                }
            ),
            "{err}"
        );
        assert_eq!(
            err.to_string(),
            "BAR0: mmap-able area 0x1008+0x1000 does not start on a page boundary \
             (page size 0x1000), so it cannot be mapped; use the pread/pwrite path"
        );
        assert!(matches!(
            ranges_with_page(&sparse(2 * P, &[(4 * P, P)]), &[], P),
            Err(MapError::AreaOutsideRegion {
                offset: 0x4000,
                region_size: 0x2000,
                ..
            })
        ));
        assert!(matches!(
            ranges_with_page(&file(P), &[0..1], P),
            Err(MapError::NothingToMap { .. })
        ));
        // The page size of this system is a power of two, and what
        // mappable_ranges uses.
        assert!(page_size().is_power_of_two());
        assert_eq!(
            mappable_ranges(&file(page_size() * 2), &[0..1]).unwrap(),
            [page_size()..2 * page_size()]
        );
    }
}

#[cfg(test)]
mod memfd_tests {
    //! Over memfd mappings: mmap64 and memfd_create are foreign functions, so
    //! Miri skips these (tools/miri.sh's known skips).
    use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};

    use super::*;
    use crate::io::region::SparseArea;

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

    fn region(size: u64, readable: bool, writable: bool) -> FileRegion {
        FileRegion {
            readable,
            writable,
            ..FileRegion::new(RegionIndex::BAR0, 0, size)
        }
    }

    /// Maps `region` of `fd`, a memfd at least as long, used by one thread.
    fn map<'fd>(fd: &'fd OwnedFd, region: &FileRegion) -> MappedRegion<'fd> {
        // SAFETY: every caller's memfd is at least as long as the region and is
        // not truncated while the mapping lives; one thread only.
        unsafe { MappedRegion::map_file(fd.as_fd(), region, &[]) }.unwrap()
    }

    #[test]
    fn odd_sized_region_tail_takes_the_slow_path() {
        let fd = memfd(8192);
        let bar = map(&fd, &region(4102, true, true));
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
    fn mmap_results_are_aligned_and_get_the_fast_path() {
        let fd = memfd(4096);
        let ro = map(&fd, &region(4096, true, false));
        assert_eq!((ro.fast.read_len, ro.fast.write_len), (4096, 0));
        assert!(ro.as_ptr().unwrap().cast::<u64>().is_aligned());
        let wo = map(&fd, &region(4096, false, true));
        assert_eq!((wo.fast.read_len, wo.fast.write_len), (0, 4096));
        wo.write32(8, 7).unwrap();
        assert_eq!(ro.read32(8).unwrap(), 7);
    }

    #[test]
    fn spans_not_at_zero_use_the_slow_path() {
        let page = page_size();
        let fd = memfd(4 * page);
        let mut sparse = region(4 * page, true, true);
        sparse.sparse = Some(vec![SparseArea {
            offset: page,
            size: page,
        }]);
        let bar = map(&fd, &sparse);
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
