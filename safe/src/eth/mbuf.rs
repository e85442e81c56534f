//! Owned packet buffers (`rte_mbuf`) and reusable bursts of them.
//!
//! The layout is bindgen's; the fields are reached through
//! `dpdk_sys::mbuf_fields`, which the build script derives from the bindings
//! of the installed release, and the static inline functions of `rte_mbuf.h`
//! (`rte_pktmbuf_append`, `rte_pktmbuf_free`, ...) through bindgen's wrappers.

use std::marker::PhantomData;
use std::ptr::NonNull;

use dpdk_sys::mbuf_fields as f;
use dpdk_sys::rte_mbuf;

use crate::eth::fast_path;

/// What an mbuf operation could not do.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum MbufError {
    /// The mempool had no free mbuf (`rte_pktmbuf_alloc` returned NULL), or not
    /// enough for the whole request (`rte_pktmbuf_alloc_bulk` failed).
    #[error("the mempool has no free mbuf")]
    Exhausted,
    /// [`Mbuf::append`] or [`Mbuf::prepend`] asked for more bytes than the
    /// tailroom or headroom holds.
    #[error("{wanted} bytes do not fit: {room} bytes of {which} left")]
    NoRoom {
        /// Bytes asked for.
        wanted: usize,
        /// Bytes of room left.
        room: usize,
        /// `"tailroom"` (last segment) or `"headroom"` (first segment).
        which: &'static str,
    },
    /// [`Mbuf::trim`] or [`Mbuf::adj`] asked to remove more bytes than the
    /// segment (last or first) holds.
    #[error("cannot remove {wanted} bytes from a segment of {len} bytes")]
    TooShort {
        /// Bytes asked to remove.
        wanted: usize,
        /// Bytes of data in the segment (`data_len`).
        len: usize,
    },
    /// [`Mempool::alloc_bulk`](crate::eth::Mempool::alloc_bulk) was asked for
    /// more mbufs than the burst has spare slots.
    #[error("the burst holds {capacity} mbufs already")]
    BurstFull {
        /// The burst's capacity, in mbufs.
        capacity: usize,
    },
    /// [`Burst::new`] was asked for a capacity above [`MAX_BURST`].
    #[error("a burst holds at most {max} mbufs, not {requested}")]
    BurstTooLarge {
        /// The capacity asked for, in mbufs.
        requested: usize,
        /// [`MAX_BURST`].
        max: usize,
    },
    /// A write to the data was refused: another owner may read the buffer.
    #[error(
        "the mbuf's data is shared (reference count {refcnt}, or an indirect or external buffer)"
    )]
    Shared {
        /// The mbuf's reference count (`refcnt`); when 1, the mbuf is indirect
        /// (`RTE_MBUF_F_INDIRECT`) or has an external buffer (`RTE_MBUF_F_EXTERNAL`).
        refcnt: u16,
    },
    /// [`Mbuf::chain`] would exceed `RTE_MBUF_MAX_NB_SEGS` segments
    /// (`rte_pktmbuf_chain` failed); the tail is handed back.
    #[error("a chain of {segs} segments exceeds DPDK's limit")]
    TooManySegments {
        /// Segments the joined chain would have (head's `nb_segs` plus tail's).
        segs: u32,
    },
}

/// Offload flags of an mbuf (`ol_flags`, `RTE_MBUF_F_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OffloadFlags(pub u64);

impl OffloadFlags {
    /// The RX RSS hash is valid (`RTE_MBUF_F_RX_RSS_HASH`).
    pub fn rss_hash(self) -> bool {
        self.0 & u64::from(dpdk_sys::RTE_MBUF_F_RX_RSS_HASH) != 0
    }
    /// The RX VLAN tag was stripped into `vlan_tci` (`RTE_MBUF_F_RX_VLAN_STRIPPED`).
    pub fn vlan_stripped(self) -> bool {
        self.0 & dpdk_sys::RTE_MBUF_F_RX_VLAN_STRIPPED as u64 != 0
    }
    /// The IP checksum was checked and is good (`RTE_MBUF_F_RX_IP_CKSUM_GOOD`).
    pub fn ip_cksum_good(self) -> bool {
        let mask = dpdk_sys::RTE_MBUF_F_RX_IP_CKSUM_MASK as u64;
        self.0 & mask == dpdk_sys::RTE_MBUF_F_RX_IP_CKSUM_GOOD as u64
    }
    /// The L4 checksum was checked and is good (`RTE_MBUF_F_RX_L4_CKSUM_GOOD`).
    pub fn l4_cksum_good(self) -> bool {
        let mask = dpdk_sys::RTE_MBUF_F_RX_L4_CKSUM_MASK as u64;
        self.0 & mask == dpdk_sys::RTE_MBUF_F_RX_L4_CKSUM_GOOD as u64
    }
    /// An indirect mbuf (attached to another's buffer).
    pub fn indirect(self) -> bool {
        self.0 & dpdk_sys::RTE_MBUF_F_INDIRECT != 0
    }
    /// An mbuf with an external buffer.
    pub fn external(self) -> bool {
        self.0 & dpdk_sys::RTE_MBUF_F_EXTERNAL != 0
    }
}

/// The packet type a driver recognised (`packet_type`, `RTE_PTYPE_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PacketType(pub u32);

impl PacketType {
    /// `RTE_PTYPE_L2_*` bits.
    pub fn l2(self) -> u32 {
        self.0 & dpdk_sys::RTE_PTYPE_L2_MASK
    }
    /// `RTE_PTYPE_L3_*` bits.
    pub fn l3(self) -> u32 {
        self.0 & dpdk_sys::RTE_PTYPE_L3_MASK
    }
    /// `RTE_PTYPE_L4_*` bits.
    pub fn l4(self) -> u32 {
        self.0 & dpdk_sys::RTE_PTYPE_L4_MASK
    }
    /// Plain Ethernet (`RTE_PTYPE_L2_ETHER`).
    pub fn is_ether(self) -> bool {
        self.l2() == dpdk_sys::RTE_PTYPE_L2_ETHER
    }
}

/// One packet, owned: freed exactly once (`rte_pktmbuf_free`, the whole chain)
/// when dropped, unless handed to a TX queue or turned into a raw pointer.
///
/// `Send` (moves to another lcore with its data), not `Clone`. The lifetime
/// is the EAL's: an mbuf cannot outlive the EAL, and its mempool stays
/// allocated while it is out (see [`Mempool`](crate::eth::Mempool)).
#[repr(transparent)]
pub struct Mbuf<'eal> {
    ptr: NonNull<rte_mbuf>,
    _eal: PhantomData<&'eal ()>,
}

// SAFETY: an Mbuf is the only owner of its rte_mbuf (and, with reference count
// 1, of its data); freeing it from another lcore is allowed (mempools are
// multi-thread safe).
unsafe impl Send for Mbuf<'_> {}
// SAFETY: through &Mbuf only reads happen; writes need &mut.
unsafe impl Sync for Mbuf<'_> {}

impl std::fmt::Debug for Mbuf<'_> {
    fn fmt(&self, fmt: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        fmt.debug_struct("Mbuf")
            .field("pkt_len", &self.pkt_len())
            .field("segments", &self.segments())
            .field("port", &self.port())
            .finish()
    }
}

impl Drop for Mbuf<'_> {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: self owns the mbuf chain; nothing uses it after this.
        unsafe { fast_path::pktmbuf_free(self.ptr.as_ptr()) }
    }
}

impl<'eal> Mbuf<'eal> {
    /// Takes ownership of a raw mbuf.
    ///
    /// # Safety
    /// `m` is a valid packet mbuf (or chain) of a pool created in this EAL,
    /// owned by nobody else (no other `Mbuf` and no C code will use or free
    /// it), and its pool is not freed while the returned value lives.
    #[inline(always)]
    pub unsafe fn from_raw(m: *mut rte_mbuf) -> Self {
        Mbuf {
            // SAFETY: the caller passes a valid, hence non-null, mbuf.
            ptr: unsafe { NonNull::new_unchecked(m) },
            _eal: PhantomData,
        }
    }

    /// Gives up ownership: the caller frees the mbuf (or hands it to DPDK).
    #[inline(always)]
    pub fn into_raw(self) -> *mut rte_mbuf {
        let m = self.ptr.as_ptr();
        std::mem::forget(self);
        m
    }

    /// The raw mbuf, still owned by self.
    #[inline(always)]
    pub fn as_ptr(&self) -> *mut rte_mbuf {
        self.ptr.as_ptr()
    }

    #[inline(always)]
    fn read<T: Copy>(&self, field: unsafe fn(*mut rte_mbuf) -> *mut T) -> T {
        // SAFETY: self's mbuf is valid; the field pointer comes from the bindings' layout.
        unsafe { *field(self.ptr.as_ptr()) }
    }

    /// Bytes in the whole chain (`pkt_len`).
    #[inline(always)]
    pub fn pkt_len(&self) -> usize {
        self.read(f::pkt_len) as usize
    }

    /// Bytes in this (first) segment (`data_len`).
    #[inline(always)]
    pub fn data_len(&self) -> usize {
        self.read(f::data_len) as usize
    }

    /// True when the packet has no data.
    pub fn is_empty(&self) -> bool {
        self.pkt_len() == 0
    }

    /// Number of segments in the chain.
    pub fn segments(&self) -> u16 {
        self.read(f::nb_segs)
    }

    /// Free bytes before the data in the first segment.
    pub fn headroom(&self) -> usize {
        self.read(f::data_off) as usize
    }

    /// Free bytes after the data in the last segment.
    pub fn tailroom(&self) -> usize {
        // SAFETY: self's mbuf chain is valid.
        let last = unsafe { dpdk_sys::rte_pktmbuf_lastseg(self.ptr.as_ptr()) };
        // SAFETY: last is a valid segment of the chain.
        unsafe { dpdk_sys::rte_pktmbuf_tailroom(last) as usize }
    }

    /// The port the packet arrived on.
    pub fn port(&self) -> u16 {
        self.read(f::port)
    }

    /// Offload flags.
    pub fn offload_flags(&self) -> OffloadFlags {
        OffloadFlags(self.read(f::ol_flags))
    }

    /// The packet type the driver recognised.
    pub fn packet_type(&self) -> PacketType {
        PacketType(self.read(f::packet_type))
    }

    /// The RSS hash, when the driver computed one.
    pub fn rss_hash(&self) -> Option<u32> {
        self.offload_flags().rss_hash().then(|| self.read(f::rss))
    }

    /// The VLAN tag stripped on RX, when there was one.
    pub fn vlan_tci(&self) -> Option<u16> {
        self.offload_flags()
            .vlan_stripped()
            .then(|| self.read(f::vlan_tci))
    }

    /// The first segment's data.
    #[inline(always)]
    pub fn data(&self) -> &[u8] {
        let m = self.ptr.as_ptr();
        // SAFETY: buf_addr + data_off .. + data_len lies in the segment's buffer
        // (DPDK's invariant for every mbuf); the bytes stay put while &self lives.
        unsafe {
            let start = (*f::buf_addr(m)).cast::<u8>().add(*f::data_off(m) as usize);
            std::slice::from_raw_parts(start, *f::data_len(m) as usize)
        }
    }

    /// The first segment's data, writable: refused when the buffer is shared
    /// (reference count above 1, or an indirect or external buffer), where
    /// another owner could read it at the same time.
    #[inline(always)]
    pub fn data_mut(&mut self) -> Result<&mut [u8], MbufError> {
        let m = self.ptr.as_ptr();
        let refcnt = self.read(f::refcnt);
        let flags = self.offload_flags();
        if refcnt != 1 || flags.indirect() || flags.external() {
            return Err(MbufError::Shared { refcnt });
        }
        // SAFETY: as in data(); the buffer is this mbuf's alone (checked) and
        // &mut self excludes every other access through self.
        Ok(unsafe {
            let start = (*f::buf_addr(m)).cast::<u8>().add(*f::data_off(m) as usize);
            std::slice::from_raw_parts_mut(start, *f::data_len(m) as usize)
        })
    }

    /// Each segment's data, first to last.
    pub fn segment_data(&self) -> impl Iterator<Item = &[u8]> + '_ {
        let mut seg = self.ptr.as_ptr();
        std::iter::from_fn(move || {
            if seg.is_null() {
                return None;
            }
            // SAFETY: seg is a segment of self's valid chain.
            unsafe {
                let start = (*f::buf_addr(seg))
                    .cast::<u8>()
                    .add(*f::data_off(seg) as usize);
                let data = std::slice::from_raw_parts(start, *f::data_len(seg) as usize);
                seg = *f::next(seg);
                Some(data)
            }
        })
    }

    /// The whole chain's bytes, copied into one vector.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.pkt_len());
        for seg in self.segment_data() {
            out.extend_from_slice(seg);
        }
        out
    }

    /// Adds `len` bytes at the end (last segment); returns them.
    pub fn append(&mut self, len: usize) -> Result<&mut [u8], MbufError> {
        let room = self.tailroom();
        self.check_writable()?;
        if len > room {
            return Err(MbufError::NoRoom {
                wanted: len,
                room,
                which: "tailroom",
            });
        }
        // SAFETY: len fits the tailroom (checked), so DPDK returns a pointer to
        // `len` bytes of the last segment's buffer, owned by self.
        unsafe {
            let p = dpdk_sys::rte_pktmbuf_append(self.ptr.as_ptr(), len as u16);
            Ok(std::slice::from_raw_parts_mut(p.cast::<u8>(), len))
        }
    }

    /// Adds `len` bytes at the front (first segment's headroom); returns them.
    pub fn prepend(&mut self, len: usize) -> Result<&mut [u8], MbufError> {
        let room = self.headroom();
        self.check_writable()?;
        if len > room {
            return Err(MbufError::NoRoom {
                wanted: len,
                room,
                which: "headroom",
            });
        }
        // SAFETY: len fits the headroom (checked); DPDK returns the new start.
        unsafe {
            let p = dpdk_sys::rte_pktmbuf_prepend(self.ptr.as_ptr(), len as u16);
            Ok(std::slice::from_raw_parts_mut(p.cast::<u8>(), len))
        }
    }

    /// Removes `len` bytes from the end (last segment).
    pub fn trim(&mut self, len: usize) -> Result<(), MbufError> {
        // SAFETY: self's chain is valid.
        let last = unsafe { dpdk_sys::rte_pktmbuf_lastseg(self.ptr.as_ptr()) };
        // SAFETY: last is a valid segment.
        let last_len = unsafe { *f::data_len(last) } as usize;
        if len > last_len {
            return Err(MbufError::TooShort {
                wanted: len,
                len: last_len,
            });
        }
        // SAFETY: len fits the last segment (checked).
        let ret = unsafe { dpdk_sys::rte_pktmbuf_trim(self.ptr.as_ptr(), len as u16) };
        debug_assert_eq!(ret, 0);
        Ok(())
    }

    /// Removes `len` bytes from the front (first segment); returns the new data.
    pub fn adj(&mut self, len: usize) -> Result<&[u8], MbufError> {
        let first = self.data_len();
        if len > first {
            return Err(MbufError::TooShort {
                wanted: len,
                len: first,
            });
        }
        // SAFETY: len fits the first segment (checked).
        unsafe { dpdk_sys::rte_pktmbuf_adj(self.ptr.as_ptr(), len as u16) };
        Ok(self.data())
    }

    /// Appends `tail`'s chain to this one (`rte_pktmbuf_chain`).
    pub fn chain(&mut self, tail: Mbuf<'eal>) -> Result<(), (MbufError, Mbuf<'eal>)> {
        let segs = u32::from(self.segments()) + u32::from(tail.segments());
        // SAFETY: both chains are valid and owned; on success the head owns the tail.
        let ret = unsafe { dpdk_sys::rte_pktmbuf_chain(self.ptr.as_ptr(), tail.as_ptr()) };
        if ret != 0 {
            return Err((MbufError::TooManySegments { segs }, tail));
        }
        std::mem::forget(tail);
        Ok(())
    }

    /// Makes the packet empty with the default headroom (`rte_pktmbuf_reset`).
    pub fn reset(&mut self) {
        // SAFETY: self owns the mbuf; the chain's other segments are freed first
        // so none is lost.
        unsafe {
            let m = self.ptr.as_ptr();
            let next = *f::next(m);
            if !next.is_null() {
                *f::next(m) = std::ptr::null_mut();
                dpdk_sys::rte_pktmbuf_free(next);
            }
            dpdk_sys::rte_pktmbuf_reset(m);
        }
    }

    fn check_writable(&self) -> Result<(), MbufError> {
        let refcnt = self.read(f::refcnt);
        let flags = self.offload_flags();
        if refcnt != 1 || flags.indirect() || flags.external() {
            return Err(MbufError::Shared { refcnt });
        }
        Ok(())
    }
}

/// A reusable array of up to `capacity` owned mbufs: what RX bursts fill and
/// TX bursts empty, allocated once.
///
/// Dropping it (or [`Burst::clear`]) frees what it still holds with
/// `rte_pktmbuf_free_bulk`.
pub struct Burst<'eal> {
    slots: Box<[*mut rte_mbuf]>,
    len: usize,
    _eal: PhantomData<Mbuf<'eal>>,
}

// SAFETY: the burst owns its mbufs, as a Vec<Mbuf> would.
unsafe impl Send for Burst<'_> {}

impl std::fmt::Debug for Burst<'_> {
    fn fmt(&self, fmt: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        fmt.debug_struct("Burst")
            .field("len", &self.len)
            .field("capacity", &self.slots.len())
            .finish()
    }
}

/// The most mbufs one burst holds (a burst's count is a `u16` in DPDK).
pub const MAX_BURST: usize = u16::MAX as usize;

impl<'eal> Burst<'eal> {
    /// An empty burst with room for `capacity` mbufs (1..=`MAX_BURST`).
    pub fn new(capacity: usize) -> Result<Self, MbufError> {
        if capacity == 0 || capacity > MAX_BURST {
            return Err(MbufError::BurstTooLarge {
                requested: capacity,
                max: MAX_BURST,
            });
        }
        Ok(Burst {
            slots: vec![std::ptr::null_mut(); capacity].into_boxed_slice(),
            len: 0,
            _eal: PhantomData,
        })
    }

    /// Mbufs held.
    #[inline(always)]
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when it holds none.
    #[inline(always)]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Mbufs it can hold.
    #[inline(always)]
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// Free slots.
    #[inline(always)]
    pub fn spare(&self) -> usize {
        self.slots.len() - self.len
    }

    /// The held mbufs.
    #[inline(always)]
    pub fn as_slice(&self) -> &[Mbuf<'eal>] {
        // SAFETY: the first len slots hold owned, non-null mbufs; Mbuf is a
        // transparent wrapper of a non-null pointer.
        unsafe { std::slice::from_raw_parts(self.slots.as_ptr().cast::<Mbuf<'eal>>(), self.len) }
    }

    /// The held mbufs, mutable (their data, not their ownership: the slice's
    /// elements cannot be moved out).
    #[inline(always)]
    pub fn as_mut_slice(&mut self) -> &mut [Mbuf<'eal>] {
        // SAFETY: as in as_slice; &mut self is unique.
        unsafe {
            std::slice::from_raw_parts_mut(self.slots.as_mut_ptr().cast::<Mbuf<'eal>>(), self.len)
        }
    }

    /// Adds one mbuf; hands it back when the burst is full.
    #[inline]
    pub fn push(&mut self, m: Mbuf<'eal>) -> Result<(), Mbuf<'eal>> {
        if self.len == self.slots.len() {
            return Err(m);
        }
        self.slots[self.len] = m.into_raw();
        self.len += 1;
        Ok(())
    }

    /// Takes the last mbuf out.
    #[inline]
    pub fn pop(&mut self) -> Option<Mbuf<'eal>> {
        if self.len == 0 {
            return None;
        }
        self.len -= 1;
        // SAFETY: the slot held an owned mbuf, whose ownership moves out.
        Some(unsafe { Mbuf::from_raw(self.slots[self.len]) })
    }

    /// Takes every mbuf out, first to last.
    pub fn drain(&mut self) -> impl Iterator<Item = Mbuf<'eal>> + '_ {
        let len = std::mem::replace(&mut self.len, 0);
        // SAFETY: the first len slots held owned mbufs; len is 0 now, so each
        // moves out exactly once (an iterator dropped early leaks the rest
        // rather than freeing twice; the Drain below frees them).
        Drain {
            slots: &self.slots[..len],
            next: 0,
            _eal: PhantomData,
        }
    }

    /// Frees every held mbuf (`rte_pktmbuf_free_bulk`).
    #[inline]
    pub fn clear(&mut self) {
        if self.len > 0 {
            // SAFETY: the first len slots hold owned mbufs; len becomes 0 so
            // none is used again.
            unsafe { dpdk_sys::rte_pktmbuf_free_bulk(self.slots.as_mut_ptr(), self.len as u32) };
            self.len = 0;
        }
    }

    /// The slots after the held mbufs, for DPDK to write into.
    #[inline(always)]
    pub(crate) fn spare_ptr(&mut self) -> *mut *mut rte_mbuf {
        // SAFETY: len <= capacity, so the pointer is in bounds or one past.
        unsafe { self.slots.as_mut_ptr().add(self.len) }
    }

    /// All slots, for DPDK to read from.
    #[inline(always)]
    pub(crate) fn slots_ptr(&mut self) -> *mut *mut rte_mbuf {
        self.slots.as_mut_ptr()
    }

    /// # Safety
    /// The first `len` slots hold owned mbufs, `len <= capacity`.
    #[inline(always)]
    pub(crate) unsafe fn set_len(&mut self, len: usize) {
        self.len = len;
    }

    /// Drops the first `sent` mbufs from the burst without freeing them (the
    /// driver took them) and moves the rest to the front.
    #[inline(always)]
    pub(crate) fn consume_front(&mut self, sent: usize) {
        debug_assert!(sent <= self.len);
        if sent == self.len {
            self.len = 0;
        } else {
            self.slots.copy_within(sent..self.len, 0);
            self.len -= sent;
        }
    }
}

impl Drop for Burst<'_> {
    fn drop(&mut self) {
        self.clear();
    }
}

struct Drain<'a, 'eal> {
    slots: &'a [*mut rte_mbuf],
    next: usize,
    _eal: PhantomData<Mbuf<'eal>>,
}

impl<'eal> Iterator for Drain<'_, 'eal> {
    type Item = Mbuf<'eal>;
    fn next(&mut self) -> Option<Mbuf<'eal>> {
        let m = *self.slots.get(self.next)?;
        self.next += 1;
        // SAFETY: each slot is moved out once (next only grows).
        Some(unsafe { Mbuf::from_raw(m) })
    }
}

impl Drop for Drain<'_, '_> {
    fn drop(&mut self) {
        // The ones not taken are freed here, so none leaks.
        for _ in self.by_ref() {}
    }
}
