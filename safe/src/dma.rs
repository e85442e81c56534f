//! Memory a device can reach: DMA buffers in DPDK's memory, and application
//! memory made device-visible.
//!
//! [`DmaBuffer`] is an owned, IOVA-contiguous buffer from DPDK's memory (a
//! memzone reserved with `RTE_MEMZONE_IOVA_CONTIG`, or `rte_malloc_socket`
//! memory whose pages were checked to be IOVA-contiguous). It knows its
//! virtual address, its IOVA (the address a device puts on the bus), its size
//! and its alignment, and it is freed on drop. DPDK's memory is mapped into
//! DPDK's VFIO container as DPDK allocates it, so the IOVA is valid for every
//! device in that container: devices DPDK probed for a Rust driver and devices
//! opened with [`Eal::vfio_open`](crate::Eal::vfio_open) alike.
//!
//! [`ExternalMemory`] registers memory the application owns with DPDK
//! (`rte_extmem_register`) and maps it for one device on DPDK's bus
//! (`rte_dev_dma_map`, unmapped on drop: only API that stays public when DPDK
//! makes `rte_vfio_*` internal), or for a device opened with
//! [`Eal::vfio_open`](crate::Eal::vfio_open), in its VFIO container (DPDK's,
//! or the crate's own, which is what remains once `rte_vfio_*` goes).
//!
//! # The rule the types cannot enforce
//!
//! A device that was given a buffer's IOVA may write to it at any time until
//! it is told to stop: the IOMMU keeps the mapping, not this crate's borrow
//! checker. **Stop the device's DMA (disable the engine, reset the device or
//! the controller, or release the device) before dropping the buffer it was
//! given.** A buffer dropped while the device still uses it is returned to
//! DPDK's allocator, and the device then writes into whatever DPDK hands out
//! next: memory corruption that no Rust code can cause by itself, and that no
//! type here can rule out, because the device's behaviour is outside the
//! program. The CPU side is safe: every access goes through raw pointers with
//! volatile or atomic operations (no Rust reference to device-visible memory
//! is ever made), and [`DmaBuffer::leak`] keeps memory alive for good where
//! stopping the device cannot be guaranteed.
//!
//! ```no_run
//! # fn demo(eal: &dpdk_safe::Eal) -> Result<(), dpdk_safe::DmaError> {
//! use dpdk_safe::DmaBuffer;
//! let buf = DmaBuffer::new(eal, 4096, 4096)?;
//! buf.write::<u32>(0, 0x1234_5678)?;
//! println!("tell the device: IOVA {:#x}", buf.iova());
//! # Ok(()) }
//! ```

use std::ffi::CString;
use std::marker::PhantomData;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use crate::eal::Eal;
use crate::errno::{last_rte_errno, DpdkErrno};
use crate::io::register::Register;
use crate::pci::address::PciAddress;
use crate::vfio::VfioDevice;

/// DPDK's `RTE_BAD_IOVA`: the IOVA of memory DPDK does not know.
const BAD_IOVA: u64 = u64::MAX;

/// `SOCKET_ID_ANY`.
const SOCKET_ANY: i32 = -1;

/// The largest buffer asked of DPDK: sizes past this do not fit its `size_t`
/// arithmetic with the alignment added (and no machine has that much memory).
const MAX_LEN: usize = isize::MAX as usize / 2;

/// Why DMA memory could not be had or used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DmaError {
    /// A buffer of zero bytes was asked for.
    #[error("a DMA buffer of 0 bytes was asked for")]
    ZeroSize,
    /// The size is larger than any allocation can be.
    #[error("a DMA buffer of {size} bytes is too large (at most {max} bytes)")]
    TooLarge {
        /// Bytes asked for.
        size: usize,
        /// The largest size accepted.
        max: usize,
    },
    /// The alignment is not a power of two, or does not fit DPDK's `unsigned`.
    #[error("alignment {0} is not a power of two of at most 2^31")]
    BadAlignment(usize),
    /// DPDK has no memory left for the buffer (`ENOMEM`), or no memzone slot
    /// (`ENOSPC`).
    #[error(
        "DPDK could not reserve {size} bytes of IOVA-contiguous memory on socket {socket}: {errno}"
    )]
    NoMemory {
        /// Bytes asked for.
        size: usize,
        /// The NUMA socket asked for (-1: any).
        socket: i32,
        /// DPDK's error.
        #[source]
        errno: DpdkErrno,
    },
    /// DPDK refused the request for another reason (not the primary process,
    /// bad socket, ...).
    #[error("DPDK refused to reserve {size} bytes on socket {socket}: {errno}")]
    Refused {
        /// Bytes asked for.
        size: usize,
        /// The NUMA socket asked for.
        socket: i32,
        /// DPDK's error.
        #[source]
        errno: DpdkErrno,
    },
    /// DPDK does not know an IOVA for this memory (`rte_mem_virt2iova` gave
    /// `RTE_BAD_IOVA`): it is not DPDK's memory, or not registered.
    #[error("DPDK knows no IOVA for address {addr:#x}: not memory DPDK allocated or registered")]
    IovaUnknown {
        /// The virtual address asked about.
        addr: usize,
    },
    /// `rte_malloc_socket` memory that spans pages whose IOVAs do not follow
    /// each other (IOVA-as-PA mode); use [`DmaBuffer::new`] (a memzone), which
    /// is contiguous by construction.
    #[error(
        "the {size}-byte allocation is not IOVA-contiguous (IOVA jumps at offset {offset:#x})"
    )]
    NotContiguous {
        /// Bytes allocated.
        size: usize,
        /// Offset of the first page whose IOVA does not follow.
        offset: usize,
    },
    /// An access past the end of the buffer.
    #[error("{width}-byte access at {offset:#x} is past the end of the {size}-byte DMA buffer")]
    OutOfBounds {
        /// Offset of the access.
        offset: usize,
        /// Bytes accessed.
        width: usize,
        /// The buffer's size.
        size: usize,
    },
    /// An access whose address is not aligned to its width.
    #[error("{width}-byte access at {offset:#x} is not {width}-byte aligned")]
    Unaligned {
        /// Offset of the access.
        offset: usize,
        /// Bytes accessed.
        width: usize,
    },
    /// Memory to register is not page-aligned, or is empty.
    #[error("external memory at {addr:#x}, {len} bytes, is not a whole number of {page_size}-byte pages")]
    NotPageAligned {
        /// Its address.
        addr: usize,
        /// Its length.
        len: usize,
        /// The page size asked for.
        page_size: usize,
    },
    /// `rte_extmem_register` failed.
    #[error("rte_extmem_register of {len} bytes failed: {errno}")]
    Register {
        /// Bytes to register.
        len: usize,
        /// DPDK's error.
        #[source]
        errno: DpdkErrno,
    },
    /// No device at this address on DPDK's bus.
    #[error("no PCI device {0} on DPDK's bus")]
    NoSuchDevice(PciAddress),
    /// `rte_dev_dma_map` failed. DPDK's PCI bus maps only for devices one of
    /// its drivers (a Rust driver included) has probed: `EINVAL` for a device
    /// without a driver, `ENOTSUP` for one not bound to vfio-pci.
    #[error("rte_dev_dma_map for PCI device {address} failed (the device must be probed by a DPDK or Rust driver and bound to vfio-pci, the IOVA within the IOMMU's width; see DPDK's log): {errno}")]
    Map {
        /// The device.
        address: PciAddress,
        /// DPDK's error.
        #[source]
        errno: DpdkErrno,
    },
    /// Mapping external memory in a [`VfioDevice`]'s container failed
    /// ([`ExternalMemory::map_for_vfio`]): the kernel's or DPDK's error.
    #[error("mapping {len} bytes at IOVA {iova:#x} for PCI device {address}'s VFIO container failed (an IOVA range mapped already, or wider than the IOMMU takes): {errno}")]
    VfioMap {
        /// The device.
        address: PciAddress,
        /// The IOVA asked for.
        iova: u64,
        /// Bytes.
        len: usize,
        /// The error.
        #[source]
        errno: DpdkErrno,
    },
    /// The IOVA range asked for meets one DPDK uses, or will use, for its own
    /// memory.
    #[error("IOVA range {iova:#x}+{len:#x} meets DPDK's own memory; choose an IOVA outside it")]
    IovaInUse {
        /// The IOVA asked for.
        iova: u64,
        /// Bytes.
        len: usize,
    },
}

/// Where a [`DmaBuffer`] came from, for freeing it.
#[derive(Debug)]
enum Backing {
    Memzone(NonNull<dpdk_sys::rte_memzone>),
    Malloc,
    Leaked,
}

/// An owned, IOVA-contiguous buffer in DPDK's memory, freed on drop.
///
/// Accessed from the CPU only through copies, volatile loads and stores
/// ([`read`](Self::read), [`write`](Self::write)) and atomics
/// ([`atomic_u32`](Self::atomic_u32)): the device may change the bytes at any
/// time, so no `&[u8]` to them is ever handed out. `Send` (DPDK's allocator
/// frees from any thread) but not `Sync`: two threads' volatile stores to the
/// same bytes would race; share through the atomics instead, or wrap it.
///
/// **Stop the device's DMA before dropping a buffer it was given** (disable
/// the engine, reset the device, or release it): the IOMMU keeps the mapping
/// whatever this value's lifetime says, and a device writing into freed memory
/// corrupts whatever DPDK hands out next. No type can rule this out, because
/// the device's behaviour is outside the program; [`leak`](Self::leak) keeps
/// the memory for good where stopping the device cannot be guaranteed.
#[derive(Debug)]
pub struct DmaBuffer<'eal> {
    ptr: NonNull<u8>,
    len: usize,
    align: usize,
    iova: u64,
    socket: i32,
    backing: Backing,
    _eal: PhantomData<(&'eal Eal, *mut u8)>,
}

// SAFETY: the buffer is plain memory owned by this value; rte_memzone_free and
// rte_free take DPDK's locks and may be called from any thread. The 'eal borrow
// keeps the EAL alive, whichever thread holds the buffer.
unsafe impl Send for DmaBuffer<'_> {}

/// A counter making memzone names unique in this process.
static NEXT_ZONE: AtomicU64 = AtomicU64::new(0);

fn check_size(len: usize, align: usize) -> Result<(), DmaError> {
    if len == 0 {
        return Err(DmaError::ZeroSize);
    }
    if len > MAX_LEN {
        return Err(DmaError::TooLarge {
            size: len,
            max: MAX_LEN,
        });
    }
    if !align.is_power_of_two() || align > 1 << 31 {
        return Err(DmaError::BadAlignment(align));
    }
    Ok(())
}

fn reserve_failed(size: usize, socket: i32) -> DmaError {
    let code = last_rte_errno();
    let errno = DpdkErrno::new(code);
    if code == libc::ENOMEM || code == libc::ENOSPC {
        DmaError::NoMemory {
            size,
            socket,
            errno,
        }
    } else {
        DmaError::Refused {
            size,
            socket,
            errno,
        }
    }
}

impl<'eal> DmaBuffer<'eal> {
    /// `len` bytes aligned to `align` (a power of two), on any NUMA socket: a
    /// memzone reserved with `RTE_MEMZONE_IOVA_CONTIG`, zeroed.
    pub fn new(eal: &'eal Eal, len: usize, align: usize) -> Result<Self, DmaError> {
        Self::on_socket(eal, len, align, None)
    }

    /// As [`new`](Self::new), on NUMA socket `socket` (`None`: any).
    pub fn on_socket(
        eal: &'eal Eal,
        len: usize,
        align: usize,
        socket: Option<u32>,
    ) -> Result<Self, DmaError> {
        let _ = eal;
        check_size(len, align)?;
        let socket_id = socket.map_or(SOCKET_ANY, |s| i32::try_from(s).unwrap_or(i32::MAX));
        let n = NEXT_ZONE.fetch_add(1, Ordering::Relaxed);
        // Memzone names are at most 31 bytes; the pid keeps secondary processes apart.
        let name = CString::new(format!("rsdma{}_{}", std::process::id() % 100_000, n))
            .expect("no NUL in a formatted number");
        // SAFETY: `name` is a valid C string for the call (DPDK copies it);
        // the other arguments are plain integers.
        let zone = unsafe {
            dpdk_sys::rte_memzone_reserve_aligned(
                name.as_ptr(),
                len,
                socket_id,
                dpdk_sys::RTE_MEMZONE_IOVA_CONTIG,
                align as u32,
            )
        };
        let Some(zone) = NonNull::new(zone.cast_mut()) else {
            return Err(reserve_failed(len, socket_id));
        };
        // SAFETY: `zone` is a live memzone that DPDK returned; the struct is
        // packed, so its fields are read unaligned, by value.
        let (addr, iova, zone_socket) = unsafe {
            let z = zone.as_ptr();
            (
                std::ptr::addr_of!((*z).__bindgen_anon_1.addr).read_unaligned(),
                std::ptr::addr_of!((*z).iova).read_unaligned(),
                std::ptr::addr_of!((*z).socket_id).read_unaligned(),
            )
        };
        let buffer = DmaBuffer {
            ptr: NonNull::new(addr.cast::<u8>()).expect("a reserved memzone has an address"),
            len,
            align,
            iova,
            socket: zone_socket,
            backing: Backing::Memzone(zone),
            _eal: PhantomData,
        };
        let mut buffer = buffer;
        if iova == BAD_IOVA {
            buffer.iova = iova_of(addr)?;
        }
        buffer.fill(0);
        Ok(buffer)
    }

    /// `len` bytes aligned to `align` from DPDK's heap (`rte_malloc_socket`,
    /// zeroed), checked page by page to be IOVA-contiguous
    /// ([`DmaError::NotContiguous`] otherwise; in IOVA-as-VA mode it always is).
    pub fn malloc(
        eal: &'eal Eal,
        len: usize,
        align: usize,
        socket: Option<u32>,
    ) -> Result<Self, DmaError> {
        let _ = eal;
        check_size(len, align)?;
        let socket_id = socket.map_or(SOCKET_ANY, |s| i32::try_from(s).unwrap_or(i32::MAX));
        // SAFETY: a NULL type is allowed; the other arguments are plain integers.
        let raw =
            unsafe { dpdk_sys::rte_zmalloc_socket(std::ptr::null(), len, align as u32, socket_id) };
        let Some(ptr) = NonNull::new(raw.cast::<u8>()) else {
            return Err(reserve_failed(len, socket_id));
        };
        // From here on, dropping `buffer` frees the allocation.
        let mut buffer = DmaBuffer {
            ptr,
            len,
            align,
            iova: BAD_IOVA,
            socket: socket_id,
            backing: Backing::Malloc,
            _eal: PhantomData,
        };
        buffer.iova = iova_of(ptr.as_ptr())?;
        // SAFETY: ptr is DPDK's heap memory; the call only reads DPDK's tables.
        let msl = unsafe { dpdk_sys::rte_mem_virt2memseg_list(ptr.as_ptr().cast()) };
        let page = if msl.is_null() {
            4096
        } else {
            // SAFETY: a non-NULL memseg list is DPDK's, alive while the EAL is.
            unsafe { (*msl).page_sz as usize }.max(4096)
        };
        let start = ptr.as_ptr() as usize;
        let mut boundary = (start / page + 1) * page;
        while boundary < start + len {
            let offset = boundary - start;
            // SAFETY: offset < len: the address is inside the allocation.
            let here = iova_of(unsafe { ptr.as_ptr().add(offset) })?;
            if here != buffer.iova + offset as u64 {
                return Err(DmaError::NotContiguous { size: len, offset });
            }
            boundary += page;
        }
        // SAFETY: ptr is DPDK's heap memory, alive; the call only reads tables.
        let socket = unsafe { dpdk_sys::rte_malloc_heap_get_socket(ptr.as_ptr().cast()) };
        // rte_malloc_heap_get_socket does not exist for every heap; keep what
        // was asked when it does not answer.
        if socket >= 0 {
            buffer.socket = socket;
        }
        Ok(buffer)
    }

    /// The CPU's address of the first byte. Reading or writing through it is
    /// the caller's `unsafe` business; the accessors here are the safe way.
    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    /// The IOVA of the first byte: what the device is given.
    pub fn iova(&self) -> u64 {
        self.iova
    }

    /// The IOVA of byte `offset`, checked to be inside the buffer.
    pub fn iova_at(&self, offset: usize) -> Result<u64, DmaError> {
        self.check(offset, 1)?;
        Ok(self.iova + offset as u64)
    }

    /// Bytes in the buffer.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Always false: a buffer has at least one byte.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The alignment asked for (the address and the IOVA are multiples of it).
    pub fn align(&self) -> usize {
        self.align
    }

    /// The NUMA socket the memory is on (-1 when DPDK does not say).
    pub fn socket(&self) -> i32 {
        self.socket
    }

    /// Bounds and alignment of a `width`-byte register access.
    fn check(&self, offset: usize, width: usize) -> Result<(), DmaError> {
        check_range(self.ptr.as_ptr(), self.len, offset, width)
    }

    /// Bounds of a `len`-byte copy (any alignment).
    fn check_copy(&self, offset: usize, len: usize) -> Result<(), DmaError> {
        check_range(self.ptr.as_ptr(), self.len, offset, len).or_else(|e| match e {
            DmaError::Unaligned { .. } => Ok(()),
            other => Err(other),
        })
    }

    /// A volatile little-endian load of a `T` at `offset` (aligned to its width).
    pub fn read<T: Register>(&self, offset: usize) -> Result<T, DmaError> {
        self.check(offset, T::WIDTH)?;
        // SAFETY: checked in bounds and aligned; the memory is owned by self and
        // any bit pattern is a valid integer.
        let raw = unsafe { self.ptr.as_ptr().add(offset).cast::<T>().read_volatile() };
        Ok(T::from_le(raw))
    }

    /// A volatile little-endian store of a `T` at `offset` (aligned to its width).
    pub fn write<T: Register>(&self, offset: usize, value: T) -> Result<(), DmaError> {
        self.check(offset, T::WIDTH)?;
        // SAFETY: checked in bounds and aligned; the memory is owned by self,
        // and `Self: !Sync` keeps other threads from storing at the same time.
        unsafe {
            self.ptr
                .as_ptr()
                .add(offset)
                .cast::<T>()
                .write_volatile(value.to_le())
        };
        Ok(())
    }

    /// The 4 bytes at `offset` (4-byte aligned) as an atomic, for memory a
    /// device and the CPU update in turn (completion words, producer indexes).
    pub fn atomic_u32(&self, offset: usize) -> Result<&AtomicU32, DmaError> {
        self.check(offset, 4)?;
        // SAFETY: in bounds and 4-byte aligned, alive for &self; AtomicU32 has
        // the layout of u32 and all accesses through it are atomic.
        Ok(unsafe { AtomicU32::from_ptr(self.ptr.as_ptr().add(offset).cast()) })
    }

    /// The 8 bytes at `offset` (8-byte aligned) as an atomic.
    pub fn atomic_u64(&self, offset: usize) -> Result<&AtomicU64, DmaError> {
        self.check(offset, 8)?;
        // SAFETY: in bounds and 8-byte aligned (checked against the real
        // address), alive for &self; all accesses through it are atomic.
        Ok(unsafe { AtomicU64::from_ptr(self.ptr.as_ptr().add(offset).cast()) })
    }

    /// Copies `src` into the buffer at `offset`.
    pub fn copy_from_slice(&self, offset: usize, src: &[u8]) -> Result<(), DmaError> {
        self.check_copy(offset, src.len())?;
        // SAFETY: the destination range is inside the buffer; `src` is a
        // separate Rust slice, so the ranges do not overlap.
        unsafe {
            std::ptr::copy_nonoverlapping(src.as_ptr(), self.ptr.as_ptr().add(offset), src.len())
        };
        Ok(())
    }

    /// Copies bytes from the buffer at `offset` into `dst`.
    pub fn copy_to_slice(&self, offset: usize, dst: &mut [u8]) -> Result<(), DmaError> {
        self.check_copy(offset, dst.len())?;
        // SAFETY: the source range is inside the buffer; `dst` is a separate
        // Rust slice.
        unsafe {
            std::ptr::copy_nonoverlapping(
                self.ptr.as_ptr().add(offset),
                dst.as_mut_ptr(),
                dst.len(),
            )
        };
        Ok(())
    }

    /// The whole buffer copied out.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = vec![0; self.len];
        self.copy_to_slice(0, &mut out).expect("the whole buffer");
        out
    }

    /// Sets every byte to `byte`.
    pub fn fill(&self, byte: u8) {
        // SAFETY: exactly the buffer's bytes, owned by self.
        unsafe { std::ptr::write_bytes(self.ptr.as_ptr(), byte, self.len) };
    }

    /// Never frees the memory: for buffers a device may still write to when
    /// the program cannot stop it. Returns the IOVA, which stays valid until
    /// the EAL is cleaned up.
    pub fn leak(mut self) -> u64 {
        self.backing = Backing::Leaked;
        self.iova
    }
}

impl Drop for DmaBuffer<'_> {
    fn drop(&mut self) {
        match self.backing {
            Backing::Memzone(zone) => {
                // SAFETY: the memzone was reserved by this value and is freed
                // once; nothing else holds a pointer to it.
                let _ = unsafe { dpdk_sys::rte_memzone_free(zone.as_ptr()) };
            }
            // SAFETY: the allocation came from rte_zmalloc_socket and is freed once.
            Backing::Malloc => unsafe { dpdk_sys::rte_free(self.ptr.as_ptr().cast()) },
            Backing::Leaked => {}
        }
    }
}

/// DPDK's IOVA for `addr`, from the memory segment DPDK holds it in:
/// [`DmaError::IovaUnknown`] for memory DPDK neither allocated nor registered
/// (`rte_mem_virt2iova` alone would answer for any address in IOVA-as-VA
/// mode). External memory registered without IOVAs has its virtual address as
/// IOVA in IOVA-as-VA mode and none otherwise. Any address may be asked
/// about: DPDK only looks it up in its tables.
pub fn iova_of<T>(addr: *const T) -> Result<u64, DmaError> {
    let unknown = DmaError::IovaUnknown {
        addr: addr as usize,
    };
    // SAFETY: the lookups only compare the address with DPDK's memseg tables;
    // it is never dereferenced.
    let msl = unsafe { dpdk_sys::rte_mem_virt2memseg_list(addr.cast()) };
    if msl.is_null() {
        return Err(unknown);
    }
    // SAFETY: as above; `msl` is the list DPDK just returned.
    let ms = unsafe { dpdk_sys::rte_mem_virt2memseg(addr.cast(), msl) };
    if ms.is_null() {
        return Err(unknown);
    }
    // SAFETY: a memseg DPDK returned, alive while the EAL is; the struct is
    // packed, so its fields are read unaligned, by value.
    let (seg_iova, seg_addr) = unsafe {
        (
            std::ptr::addr_of!((*ms).iova).read_unaligned(),
            std::ptr::addr_of!((*ms).__bindgen_anon_1.addr).read_unaligned(),
        )
    };
    if seg_iova == BAD_IOVA {
        // SAFETY: reads the EAL's configured IOVA mode.
        let mode = unsafe { dpdk_sys::rte_eal_iova_mode() };
        return if mode == dpdk_sys::rte_iova_mode_RTE_IOVA_VA {
            Ok(addr as usize as u64)
        } else {
            Err(unknown)
        };
    }
    Ok(seg_iova + (addr as usize - seg_addr as usize) as u64)
}

/// Application memory registered with DPDK (`rte_extmem_register`), so that
/// it can be mapped for a device ([`map_for`](Self::map_for)). Unregistered on
/// drop (after every mapping, which borrows it).
///
/// The memory is an anonymous mapping this value owns: the application cannot
/// free it while DPDK knows of it.
#[derive(Debug)]
pub struct ExternalMemory<'eal> {
    addr: NonNull<u8>,
    len: usize,
    page_size: usize,
    _eal: PhantomData<&'eal Eal>,
}

impl<'eal> ExternalMemory<'eal> {
    /// `len` bytes (a multiple of the system page size) of fresh anonymous
    /// memory, registered with DPDK. Its IOVA is its virtual address (what
    /// DPDK uses for external memory without IOVA tables, and what VFIO maps).
    pub fn new(eal: &'eal Eal, len: usize) -> Result<Self, DmaError> {
        let _ = eal;
        // SAFETY: sysconf only reads a system constant.
        let page_size =
            usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096);
        if len == 0 {
            return Err(DmaError::ZeroSize);
        }
        if len > MAX_LEN {
            return Err(DmaError::TooLarge {
                size: len,
                max: MAX_LEN,
            });
        }
        if len % page_size != 0 {
            return Err(DmaError::NotPageAligned {
                addr: 0,
                len,
                page_size,
            });
        }
        // SAFETY: a fresh private anonymous mapping; the result is checked.
        let addr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_POPULATE,
                -1,
                0,
            )
        };
        if addr == libc::MAP_FAILED {
            return Err(DmaError::NoMemory {
                size: len,
                socket: SOCKET_ANY,
                errno: DpdkErrno::new(std::io::Error::last_os_error().raw_os_error().unwrap_or(0)),
            });
        }
        let memory = ExternalMemory {
            addr: NonNull::new(addr.cast()).expect("mmap does not return NULL"),
            len,
            page_size,
            _eal: PhantomData,
        };
        let pages = u32::try_from(len / page_size).map_err(|_| DmaError::TooLarge {
            size: len,
            max: page_size * u32::MAX as usize,
        })?;
        // SAFETY: the range is this value's own mapping; a NULL IOVA table is
        // allowed (DPDK records RTE_BAD_IOVA per page).
        let ret = unsafe {
            dpdk_sys::rte_extmem_register(addr, len, std::ptr::null_mut(), pages, page_size)
        };
        if ret != 0 {
            // Drop would unregister what was not registered: unmap by hand.
            let errno = DpdkErrno::new(last_rte_errno());
            let memory = std::mem::ManuallyDrop::new(memory);
            // SAFETY: unmaps the mapping made above, which nothing else uses.
            unsafe { libc::munmap(memory.addr.as_ptr().cast(), len) };
            return Err(DmaError::Register { len, errno });
        }
        Ok(memory)
    }

    /// The memory's address, which is also its IOVA for [`map_for`](Self::map_for).
    pub fn as_ptr(&self) -> *mut u8 {
        self.addr.as_ptr()
    }

    /// Bytes registered.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Always false.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The page size it was registered with.
    pub fn page_size(&self) -> usize {
        self.page_size
    }

    /// Maps the whole memory for the device at `address` on DPDK's bus
    /// (`rte_dev_dma_map`, IOVA = virtual address), unmapped on drop.
    ///
    /// DPDK maps only for a device that a driver (DPDK's or a Rust one) has
    /// probed; others are [`DmaError::Map`].
    ///
    /// A user-space virtual address can be wider than the IOMMU's input
    /// addresses (47 bits against an emulated Intel IOMMU's 39, for example):
    /// the kernel then refuses the mapping, and [`map_for_at`](Self::map_for_at)
    /// maps at an IOVA of the caller's choice instead.
    pub fn map_for<'m>(
        &'m self,
        eal: &'eal Eal,
        address: PciAddress,
    ) -> Result<DmaMapping<'m, 'eal>, DmaError> {
        self.map_for_at(eal, address, self.addr.as_ptr() as u64)
    }

    /// As [`map_for`](Self::map_for), at IOVA `iova` (page-aligned). An IOVA
    /// range DPDK uses for its own memory (in IOVA-as-VA mode its reserved
    /// virtual ranges, in IOVA-as-PA mode its segments' physical ones) is
    /// [`DmaError::IovaInUse`]: DPDK would take the kernel's refusal as done.
    pub fn map_for_at<'m>(
        &'m self,
        eal: &'eal Eal,
        address: PciAddress,
        iova: u64,
    ) -> Result<DmaMapping<'m, 'eal>, DmaError> {
        self.check_iova(iova)?;
        let device = find_device(eal, address)?;
        // SAFETY: `device` is a live rte_device of DPDK's bus (found just now,
        // under the EAL's borrow); the range is registered external memory.
        let ret =
            unsafe { dpdk_sys::rte_dev_dma_map(device, self.addr.as_ptr().cast(), iova, self.len) };
        if ret != 0 {
            return Err(DmaError::Map {
                address,
                errno: DpdkErrno::new(last_rte_errno()),
            });
        }
        Ok(DmaMapping {
            memory: self,
            eal,
            address,
            iova,
        })
    }

    /// Maps the whole memory at IOVA `iova` (page-aligned) for a device
    /// opened with [`Eal::vfio_open`](crate::Eal::vfio_open), in the
    /// container its group is in (DPDK's or the crate's, as the EAL's
    /// [`VfioBackend`](crate::VfioBackend) chose), so every device of that
    /// container reaches it; unmapped on drop. The mapping borrows the device,
    /// so the group stays in the container while it lives.
    ///
    /// An IOVA range DPDK uses for its own memory is
    /// [`DmaError::IovaInUse`]; one mapped earlier through the crate's
    /// container, or an IOVA wider than the IOMMU takes, is
    /// [`DmaError::VfioMap`] with the kernel's error (DPDK's container takes a second mapping of
    /// the same range as done).
    pub fn map_for_vfio<'m>(
        &'m self,
        device: &'m VfioDevice<'eal>,
        iova: u64,
    ) -> Result<VfioDmaMapping<'m, 'eal>, DmaError> {
        self.check_iova(iova)?;
        let vaddr = self.addr.as_ptr() as usize as u64;
        // SAFETY: the range is this value's own mapping, which the returned
        // mapping borrows: it is unmapped there before the memory can go.
        unsafe { device.dma_map_external(vaddr, iova, self.len as u64) }.map_err(|errno| {
            DmaError::VfioMap {
                address: device.address(),
                iova,
                len: self.len,
                errno: DpdkErrno::new(errno),
            }
        })?;
        Ok(VfioDmaMapping {
            memory: self,
            device,
            iova,
        })
    }

    /// An IOVA for the whole memory: page-aligned, and outside DPDK's own.
    fn check_iova(&self, iova: u64) -> Result<(), DmaError> {
        if iova % self.page_size as u64 != 0 {
            return Err(DmaError::NotPageAligned {
                addr: iova as usize,
                len: self.len,
                page_size: self.page_size,
            });
        }
        if overlaps_dpdk_memory(iova, self.len as u64) {
            return Err(DmaError::IovaInUse {
                iova,
                len: self.len,
            });
        }
        Ok(())
    }

    /// A volatile store, as [`DmaBuffer::write`].
    pub fn write<T: Register>(&self, offset: usize, value: T) -> Result<(), DmaError> {
        check_range(self.addr.as_ptr(), self.len, offset, T::WIDTH)?;
        // SAFETY: in bounds and aligned; the memory is this value's mapping.
        unsafe {
            self.addr
                .as_ptr()
                .add(offset)
                .cast::<T>()
                .write_volatile(value.to_le())
        };
        Ok(())
    }

    /// A volatile load, as [`DmaBuffer::read`].
    pub fn read<T: Register>(&self, offset: usize) -> Result<T, DmaError> {
        check_range(self.addr.as_ptr(), self.len, offset, T::WIDTH)?;
        // SAFETY: in bounds and aligned; the memory is this value's mapping.
        let raw = unsafe { self.addr.as_ptr().add(offset).cast::<T>().read_volatile() };
        Ok(T::from_le(raw))
    }
}

fn check_range(base: *mut u8, len: usize, offset: usize, width: usize) -> Result<(), DmaError> {
    if offset.checked_add(width).is_none_or(|end| end > len) {
        return Err(DmaError::OutOfBounds {
            offset,
            width,
            size: len,
        });
    }
    if width != 0 && (base as usize + offset) % width != 0 {
        return Err(DmaError::Unaligned { offset, width });
    }
    Ok(())
}

/// Whether `iova..iova + len` meets an IOVA DPDK uses or will use for its own
/// memory: an allocated segment's IOVA range and, in IOVA-as-VA mode, every
/// reserved range of DPDK's memseg lists (where later allocations go).
/// External memory (ours, registered without IOVAs) is left out. DPDK and
/// the crate's container both take the kernel's `EEXIST` on a map as "already
/// mapped", so an overlap would leave the device writing DPDK's memory.
fn overlaps_dpdk_memory(iova: u64, len: u64) -> bool {
    struct Query {
        start: u64,
        end: u64,
        va_mode: bool,
    }
    fn meets(q: &Query, start: u64, len: u64) -> bool {
        start < q.end && q.start < start.saturating_add(len)
    }
    unsafe extern "C" fn each_segment(
        msl: *const dpdk_sys::rte_memseg_list,
        ms: *const dpdk_sys::rte_memseg,
        arg: *mut std::ffi::c_void,
    ) -> std::ffi::c_int {
        // SAFETY: DPDK passes live list and segment pointers for the call, and
        // `arg` is the Query below, alive for the walk.
        unsafe {
            let q = &*arg.cast::<Query>();
            let external = (*msl).external != 0 || (*ms).iova == u64::MAX; // RTE_BAD_IOVA
            (!external && meets(q, (*ms).iova, (*ms).len as u64)).into()
        }
    }
    unsafe extern "C" fn each_list(
        msl: *const dpdk_sys::rte_memseg_list,
        arg: *mut std::ffi::c_void,
    ) -> std::ffi::c_int {
        // SAFETY: as in each_segment.
        unsafe {
            let q = &*arg.cast::<Query>();
            let base = (*msl).__bindgen_anon_1.base_va as usize as u64;
            (q.va_mode && (*msl).external == 0 && meets(q, base, (*msl).len as u64)).into()
        }
    }
    let mut q = Query {
        start: iova,
        end: iova.saturating_add(len),
        // SAFETY: reads a value the EAL fixed at init.
        va_mode: unsafe { dpdk_sys::rte_eal_iova_mode() } == dpdk_sys::rte_iova_mode_RTE_IOVA_VA,
    };
    let arg = std::ptr::from_mut(&mut q).cast();
    // SAFETY: the callbacks read what DPDK passes and the Query, which lives
    // across both walks; a walk returns 1 when a callback did (an overlap).
    unsafe {
        dpdk_sys::rte_memseg_walk(Some(each_segment), arg) == 1
            || dpdk_sys::rte_memseg_list_walk(Some(each_list), arg) == 1
    }
}

fn find_device(eal: &Eal, address: PciAddress) -> Result<*mut dpdk_sys::rte_device, DmaError> {
    eal.find_rte_device(address)
        .map(|(_, device, _)| device)
        .map_err(|_| DmaError::NoSuchDevice(address))
}

impl Drop for ExternalMemory<'_> {
    fn drop(&mut self) {
        // SAFETY: the range was registered by this value; mappings borrow it,
        // so none is left.
        let _ = unsafe { dpdk_sys::rte_extmem_unregister(self.addr.as_ptr().cast(), self.len) };
        // SAFETY: unmaps this value's own mapping, which nothing uses any more.
        unsafe { libc::munmap(self.addr.as_ptr().cast(), self.len) };
    }
}

/// [`ExternalMemory`] mapped for one device; unmapped on drop
/// (`rte_dev_dma_unmap`). The same rule as for [`DmaBuffer`]: stop the
/// device's DMA first.
#[derive(Debug)]
pub struct DmaMapping<'m, 'eal> {
    memory: &'m ExternalMemory<'eal>,
    eal: &'eal Eal,
    address: PciAddress,
    iova: u64,
}

impl DmaMapping<'_, '_> {
    /// The IOVA the device uses for the memory's first byte.
    pub fn iova(&self) -> u64 {
        self.iova
    }

    /// The device it is mapped for.
    pub fn address(&self) -> PciAddress {
        self.address
    }
}

impl Drop for DmaMapping<'_, '_> {
    fn drop(&mut self) {
        // The device is looked up again: it may have left DPDK's bus since
        // (DPDK then dropped its VFIO container mapping with the device's group).
        if let Ok(device) = find_device(self.eal, self.address) {
            // SAFETY: a live device of DPDK's bus; the range is the one mapped.
            let _ = unsafe {
                dpdk_sys::rte_dev_dma_unmap(
                    device,
                    self.memory.addr.as_ptr().cast(),
                    self.iova,
                    self.memory.len,
                )
            };
        }
    }
}

/// [`ExternalMemory`] mapped in a [`VfioDevice`]'s container
/// ([`ExternalMemory::map_for_vfio`]); unmapped on drop. The same rule as for
/// [`DmaBuffer`]: stop the device's DMA first.
#[derive(Debug)]
pub struct VfioDmaMapping<'m, 'eal> {
    memory: &'m ExternalMemory<'eal>,
    device: &'m VfioDevice<'eal>,
    iova: u64,
}

impl VfioDmaMapping<'_, '_> {
    /// The IOVA the device uses for the memory's first byte.
    pub fn iova(&self) -> u64 {
        self.iova
    }
}

impl Drop for VfioDmaMapping<'_, '_> {
    fn drop(&mut self) {
        let vaddr = self.memory.as_ptr() as usize as u64;
        self.device
            .dma_unmap_external(vaddr, self.iova, self.memory.len() as u64);
    }
}
