//! Packet mempools (`rte_pktmbuf_pool_create`): where every [`Mbuf`] comes from.

use std::ffi::{CStr, CString};
use std::marker::PhantomData;
use std::ptr::NonNull;
use std::sync::Arc;

use crate::eal::Eal;
use crate::errno::DpdkErrno;
use crate::eth::fast_path;
use crate::eth::mbuf::{Burst, Mbuf, MbufError};

/// The longest pool name DPDK accepts (`RTE_MEMPOOL_NAMESIZE - 1` bytes).
pub const MAX_NAME_LEN: usize = dpdk_sys::RTE_MEMZONE_NAMESIZE as usize - 4;
/// The largest per-lcore cache (`RTE_MEMPOOL_CACHE_MAX_SIZE`).
pub const MAX_CACHE_SIZE: u32 = dpdk_sys::RTE_MEMPOOL_CACHE_MAX_SIZE;

/// Why a packet mempool could not be created.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum MempoolError {
    /// The name is empty, longer than [`MAX_NAME_LEN`] bytes or holds a NUL byte;
    /// holds the name.
    #[error("mempool name {0:?} is empty, longer than {MAX_NAME_LEN} bytes or holds a NUL byte")]
    BadName(String),
    /// A mempool of this name already exists (`EEXIST`); holds the name.
    #[error("a mempool named {0:?} already exists")]
    NameInUse(String),
    /// [`MempoolConfig::count`] is 0.
    #[error("a mempool needs at least one mbuf")]
    NoElements,
    /// The cache is above [`MAX_CACHE_SIZE`] or above two thirds of the count.
    #[error(
        "cache of {cache} mbufs is too large for {count} mbufs (at most {MAX_CACHE_SIZE}, \
         and at most count / 1.5)"
    )]
    CacheTooLarge {
        /// The per-lcore cache size asked for, in mbufs.
        cache: u32,
        /// The pool's size asked for, in mbufs.
        count: u32,
    },
    /// The data room is above 65535 or below `RTE_PKTMBUF_HEADROOM` bytes, or the
    /// private size is not a multiple of 8.
    #[error("data room of {data_room} bytes plus {priv_size} private bytes does not fit an mbuf (at most 65535, and at least the headroom of {headroom})")]
    BadDataRoom {
        /// [`MempoolConfig::data_room`], in bytes.
        data_room: u32,
        /// [`MempoolConfig::priv_size`], in bytes.
        priv_size: u16,
        /// `RTE_PKTMBUF_HEADROOM`, the least data room, in bytes.
        headroom: u32,
    },
    /// DPDK found too little memory for the pool (`ENOMEM`, `ENOSPC` or `ENOBUFS`).
    #[error("not enough memory for {count} mbufs of {data_room} bytes on socket {socket:?}")]
    NoMemory {
        /// [`MempoolConfig::count`], in mbufs.
        count: u32,
        /// [`MempoolConfig::data_room`], in bytes.
        data_room: u32,
        /// [`MempoolConfig::socket`]; `None` for any socket.
        socket: Option<u32>,
    },
    /// `rte_pktmbuf_pool_create` failed with another `rte_errno`.
    #[error("rte_pktmbuf_pool_create failed: {0}")]
    Failed(#[source] DpdkErrno),
}

/// What [`Mempool::new`] creates.
#[derive(Debug, Clone)]
pub struct MempoolConfig {
    /// The pool's name, unique in the process: 1 to [`MAX_NAME_LEN`] bytes, no NUL.
    pub name: String,
    /// Number of mbufs (DPDK advises 2^n - 1).
    pub count: u32,
    /// Per-lcore cache size; 0 for none.
    pub cache: u32,
    /// Private area after each `rte_mbuf`, multiple of 8 bytes.
    pub priv_size: u16,
    /// Bytes of each mbuf's buffer, headroom included
    /// (`RTE_MBUF_DEFAULT_BUF_SIZE` by default).
    pub data_room: u32,
    /// NUMA socket; `None` for any (`SOCKET_ID_ANY`).
    pub socket: Option<u32>,
}

impl MempoolConfig {
    /// `count` mbufs of the default size, a cache of 256 (or less for small pools), any socket.
    pub fn new(name: &str, count: u32) -> Self {
        MempoolConfig {
            name: name.to_owned(),
            count,
            cache: (count * 2 / 3).min(256),
            priv_size: 0,
            data_room: dpdk_sys::RTE_MBUF_DEFAULT_BUF_SIZE,
            socket: None,
        }
    }
}

pub(crate) struct PoolInner {
    ptr: NonNull<dpdk_sys::rte_mempool>,
}

// SAFETY: rte_mempool's get and put are multi-thread safe (the default
// ring_mp_mc ops); the per-lcore caches are indexed by the calling thread's
// lcore id, so two threads never share one.
unsafe impl Send for PoolInner {}
// SAFETY: as above; every method through &self is a thread-safe DPDK call.
unsafe impl Sync for PoolInner {}

impl Drop for PoolInner {
    fn drop(&mut self) {
        // SAFETY: the pool is live: only this drop frees it.
        let in_use = unsafe { dpdk_sys::rte_mempool_in_use_count(self.ptr.as_ptr()) };
        // An mbuf still out (held by a Mbuf, a burst, a driver's ring) would
        // point into freed memory: the pool then stays until the EAL's cleanup.
        if in_use == 0 {
            // SAFETY: no mbuf of the pool is out and no handle is left.
            unsafe { dpdk_sys::rte_mempool_free(self.ptr.as_ptr()) };
        }
    }
}

/// A packet mempool. Cloning gives another handle to the same pool (ports keep
/// one for each RX queue set up on it).
///
/// Dropping the last handle frees the pool with `rte_mempool_free` when every
/// mbuf has come back; while any is still out (in an [`Mbuf`], a [`Burst`], a
/// driver's ring) the pool is left in place until the EAL stops, so no mbuf
/// ever points into freed memory. Mbufs borrow the EAL (`'eal`), not the pool.
#[derive(Clone)]
pub struct Mempool<'eal> {
    inner: Arc<PoolInner>,
    _eal: PhantomData<&'eal ()>,
}

impl std::fmt::Debug for Mempool<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mempool")
            .field("name", &self.name())
            .field("capacity", &self.capacity())
            .field("available", &self.available())
            .finish()
    }
}

impl<'eal> Mempool<'eal> {
    /// Creates a packet mempool; bad sizes and names are refused before DPDK is called.
    pub fn new(_eal: &'eal Eal, config: &MempoolConfig) -> Result<Self, MempoolError> {
        if config.name.is_empty() || config.name.len() > MAX_NAME_LEN {
            return Err(MempoolError::BadName(config.name.clone()));
        }
        let name = CString::new(config.name.clone())
            .map_err(|_| MempoolError::BadName(config.name.clone()))?;
        if config.count == 0 {
            return Err(MempoolError::NoElements);
        }
        if config.cache > MAX_CACHE_SIZE
            || u64::from(config.cache) * 3 > u64::from(config.count) * 2
        {
            return Err(MempoolError::CacheTooLarge {
                cache: config.cache,
                count: config.count,
            });
        }
        let headroom = dpdk_sys::RTE_PKTMBUF_HEADROOM;
        if config.data_room > u32::from(u16::MAX)
            || config.data_room < headroom
            || config.priv_size % 8 != 0
        {
            return Err(MempoolError::BadDataRoom {
                data_room: config.data_room,
                priv_size: config.priv_size,
                headroom,
            });
        }
        let socket = match config.socket {
            Some(s) => s as i32,
            None => -1, // SOCKET_ID_ANY
        };
        // SAFETY: the name is NUL-terminated and outlives the call (DPDK copies it).
        let ptr = unsafe {
            dpdk_sys::rte_pktmbuf_pool_create(
                name.as_ptr(),
                config.count,
                config.cache,
                config.priv_size,
                config.data_room as u16,
                socket,
            )
        };
        match NonNull::new(ptr) {
            Some(ptr) => Ok(Mempool {
                inner: Arc::new(PoolInner { ptr }),
                _eal: PhantomData,
            }),
            None => {
                // SAFETY: reads this thread's rte_errno.
                let errno = unsafe { dpdk_sys::dpdk_shim_errno_get() };
                Err(match errno {
                    libc::EEXIST => MempoolError::NameInUse(config.name.clone()),
                    // ENOBUFS: what populating the pool returns on 32-bit targets.
                    libc::ENOMEM | libc::ENOSPC | libc::ENOBUFS => MempoolError::NoMemory {
                        count: config.count,
                        data_room: config.data_room,
                        socket: config.socket,
                    },
                    _ => MempoolError::Failed(DpdkErrno::new(errno)),
                })
            }
        }
    }

    /// The pool for the DPDK calls that take one. Valid while a handle lives.
    pub fn as_ptr(&self) -> *mut dpdk_sys::rte_mempool {
        self.inner.ptr.as_ptr()
    }

    /// The pool's name.
    pub fn name(&self) -> String {
        // SAFETY: the pool is live while self is; its name is NUL-terminated.
        unsafe { CStr::from_ptr((*self.as_ptr()).name.as_ptr()) }
            .to_string_lossy()
            .into_owned()
    }

    /// Number of mbufs the pool holds in all.
    pub fn capacity(&self) -> u32 {
        // SAFETY: the pool is live while self is.
        unsafe { (*self.as_ptr()).size }
    }

    /// Mbufs in the pool now (its ring and every lcore's cache).
    pub fn available(&self) -> u32 {
        // SAFETY: the pool is live; the count is a read of counters.
        unsafe { dpdk_sys::rte_mempool_avail_count(self.as_ptr()) }
    }

    /// Mbufs out of the pool now: `capacity() - available()`.
    pub fn in_use(&self) -> u32 {
        // SAFETY: as for available().
        unsafe { dpdk_sys::rte_mempool_in_use_count(self.as_ptr()) }
    }

    /// Bytes of each mbuf's buffer, headroom included.
    pub fn data_room(&self) -> u16 {
        // SAFETY: the pool is a packet pool created by new(), live while self is.
        unsafe { dpdk_sys::rte_pktmbuf_data_room_size(self.as_ptr()) }
    }

    /// One mbuf, reset (empty, default headroom), or [`MbufError::Exhausted`].
    #[inline]
    pub fn alloc(&self) -> Result<Mbuf<'eal>, MbufError> {
        // SAFETY: the pool is a live packet pool.
        let m = unsafe { fast_path::pktmbuf_alloc(self.as_ptr()) };
        match NonNull::new(m) {
            // SAFETY: a fresh mbuf that nobody else owns; its pool stays
            // allocated while it is out (see the type's docs).
            Some(m) => Ok(unsafe { Mbuf::from_raw(m.as_ptr()) }),
            None => Err(MbufError::Exhausted),
        }
    }

    /// Fills `burst` up to `count` more mbufs, all or none (`rte_pktmbuf_alloc_bulk`).
    // Always inlined, as DPDK's static inline function is into C: a call here
    // returns the Result through memory.
    #[inline(always)]
    pub fn alloc_bulk(&self, burst: &mut Burst<'eal>, count: usize) -> Result<(), MbufError> {
        if count > burst.spare() {
            return Err(MbufError::BurstFull {
                capacity: burst.capacity(),
            });
        }
        let tail = burst.spare_ptr();
        // SAFETY: `tail` has room for `count` pointers (checked above); on success
        // DPDK writes `count` fresh mbufs there, which the burst then owns.
        let ret = unsafe { fast_path::pktmbuf_alloc_bulk(self.as_ptr(), tail, count as u32) };
        if ret != 0 {
            return Err(MbufError::Exhausted);
        }
        // SAFETY: the `count` slots after len were just written with owned mbufs.
        unsafe { burst.set_len(burst.len() + count) };
        Ok(())
    }
}
