//! The per-packet calls into DPDK: bursts to and from the poll-mode driver,
//! single mbuf allocation and free. DPDK writes them as static inline
//! functions: C inlines them into its loop, Rust cannot. Where dpdk-sys says
//! so (`dpdk_eth_fast_path`, see its `build/features.rs`) they are written
//! here in Rust, over `rte_eth_fp_ops` and the mempool's per-lcore cache,
//! doing what DPDK's inline bodies do on the releases that list names, and
//! handing every uncommon case (no cache, an empty or full cache, chains,
//! shared or attached mbufs) to DPDK's own function; elsewhere each is one
//! call into the shim or bindgen's wrapper of DPDK's inline function.
//! `benches/forwarding.rs` measures both.

use dpdk_sys::{rte_mbuf, rte_mempool};

/// `rte_pktmbuf_alloc`: a reset mbuf from `mp`, or null when it has none.
///
/// # Safety
/// `mp` is a live packet mempool.
#[inline(always)]
pub(crate) unsafe fn pktmbuf_alloc(mp: *mut rte_mempool) -> *mut rte_mbuf {
    #[cfg(dpdk_eth_fast_path)]
    // SAFETY: the caller's contract is `rte_pktmbuf_alloc`'s.
    unsafe {
        rust::pktmbuf_alloc(mp)
    }
    #[cfg(not(dpdk_eth_fast_path))]
    // SAFETY: as above.
    unsafe {
        dpdk_sys::rte_pktmbuf_alloc(mp)
    }
}

/// `rte_pktmbuf_alloc_bulk`: `n` reset mbufs from `mp` into `out`, all or
/// none; 0 or a negative errno.
///
/// # Safety
/// `mp` is a live packet mempool; `out` has room for `n` pointers.
#[inline(always)]
pub(crate) unsafe fn pktmbuf_alloc_bulk(
    mp: *mut rte_mempool,
    out: *mut *mut rte_mbuf,
    n: u32,
) -> i32 {
    #[cfg(dpdk_eth_fast_path)]
    // SAFETY: the caller's contract is `rte_pktmbuf_alloc_bulk`'s.
    unsafe {
        rust::pktmbuf_alloc_bulk(mp, out, n)
    }
    #[cfg(not(dpdk_eth_fast_path))]
    // SAFETY: as above.
    unsafe {
        dpdk_sys::rte_pktmbuf_alloc_bulk(mp, out, n)
    }
}

/// `rte_pktmbuf_free`: the mbuf (chain) goes back to its pool, or loses one
/// reference.
///
/// # Safety
/// `m` is a valid packet mbuf the caller owns and does not use again.
#[inline(always)]
pub(crate) unsafe fn pktmbuf_free(m: *mut rte_mbuf) {
    #[cfg(dpdk_eth_fast_path)]
    // SAFETY: the caller's contract is `rte_pktmbuf_free`'s.
    unsafe {
        rust::pktmbuf_free(m)
    }
    #[cfg(not(dpdk_eth_fast_path))]
    // SAFETY: as above.
    unsafe {
        dpdk_sys::rte_pktmbuf_free(m)
    }
}

/// `rte_eth_rx_burst`.
///
/// # Safety
/// `port` is a valid port id whose table entry holds an RX burst function
/// (`dpdk_shim_eth_has_burst_function`), `queue` one of its configured RX
/// queues, polled by no other thread during the call; `pkts` has room for `n`
/// pointers.
#[inline(always)]
pub(crate) unsafe fn rx_burst(port: u16, queue: u16, pkts: *mut *mut rte_mbuf, n: u16) -> u16 {
    #[cfg(dpdk_eth_fast_path)]
    // SAFETY: the caller's contract is `rte_eth_rx_burst`'s.
    unsafe {
        rust::rx_burst(port, queue, pkts, n)
    }
    #[cfg(not(dpdk_eth_fast_path))]
    // SAFETY: as above; the shim calls `rte_eth_rx_burst` with these arguments.
    unsafe {
        dpdk_sys::dpdk_shim_eth_rx_burst(port, queue, pkts, n)
    }
}

/// `rte_eth_tx_burst`.
///
/// # Safety
/// `port` is a valid port id whose table entry holds a TX burst function,
/// `queue` one of its configured TX queues, used by no other thread during the
/// call; `pkts` holds `n` mbufs the caller owns,
/// and the first ones the driver takes (the count returned) are no longer the
/// caller's.
#[inline(always)]
pub(crate) unsafe fn tx_burst(port: u16, queue: u16, pkts: *mut *mut rte_mbuf, n: u16) -> u16 {
    #[cfg(dpdk_eth_fast_path)]
    // SAFETY: the caller's contract is `rte_eth_tx_burst`'s.
    unsafe {
        rust::tx_burst(port, queue, pkts, n)
    }
    #[cfg(not(dpdk_eth_fast_path))]
    // SAFETY: as above; the shim calls `rte_eth_tx_burst` with these arguments.
    unsafe {
        dpdk_sys::dpdk_shim_eth_tx_burst(port, queue, pkts, n)
    }
}

/// The bursts in Rust. What DPDK keeps in `rte_eth_fp_ops[port]`
/// (lib/ethdev/ethdev_private.c, `eth_dev_fp_ops_setup` and
/// `eth_dev_fp_ops_reset`): while the port is started, the driver's burst
/// functions and its queue arrays; once it is stopped or closed, dummy
/// functions that return 0 and dummy arrays of `RTE_MAX_QUEUES_PER_PORT`
/// slots. Both are sound to call for a valid port and queue, as the inline
/// bodies do; a queue handle borrows its port, which cannot be stopped (that
/// takes `&mut Port`) while the handle lives. The
/// callback pointers (`clbk[queue]`) are written with release order by
/// `rte_eth_add_rx_callback`/`rte_eth_add_tx_callback` and read here with a
/// relaxed load and a data dependency, as DPDK's inline functions read them.
///
/// The mempool side (lib/mempool/rte_mempool.h): `rte_mempool_default_cache`
/// is `&mp->local_cache[lcore]` for an lcore id below `RTE_MAX_LCORE` and a
/// pool with a cache, else none; that cache is touched only by the thread
/// holding that lcore id (as in C), which is the calling thread here, since
/// the id is read from the calling thread's own per-lcore variable.
#[cfg(dpdk_eth_fast_path)]
mod rust {
    use std::cell::Cell;
    use std::ffi::c_void;
    use std::sync::atomic::{AtomicPtr, AtomicU16, Ordering};

    use dpdk_sys::eth_fast_path::{
        rte_eth_call_rx_callbacks, rte_eth_call_tx_callbacks, rte_eth_fp_ops,
        DPDK_RS_FP_RXTX_CALLBACKS,
    };
    use dpdk_sys::mbuf_fields as f;
    use dpdk_sys::{rte_mbuf, rte_mempool, rte_mempool_cache};

    thread_local! {
        /// This thread's `per_lcore__lcore_id`, found once: a TLS address is
        /// fixed for the thread's life, and the value is read at every use,
        /// so `rte_thread_register`/`unregister` are seen at once.
        static LCORE_ID: Cell<*const u32> = const { Cell::new(std::ptr::null()) };
    }

    /// `rte_lcore_id()` without a call.
    #[inline(always)]
    fn lcore_id() -> u32 {
        let mut p = LCORE_ID.with(Cell::get);
        if p.is_null() {
            p = lcore_id_addr();
        }
        // SAFETY: the address of this thread's own lcore id variable, which
        // only this thread writes (DPDK sets it from the thread itself).
        unsafe { *p }
    }

    #[cold]
    #[inline(never)]
    fn lcore_id_addr() -> *const u32 {
        // SAFETY: no arguments; returns the calling thread's TLS address.
        let p = unsafe { dpdk_sys::dpdk_shim_lcore_id_addr() };
        LCORE_ID.with(|c| c.set(p));
        p
    }

    /// `rte_mempool_default_cache(mp, rte_lcore_id())`.
    ///
    /// # Safety
    /// `mp` is a live mempool.
    #[inline(always)]
    unsafe fn default_cache(mp: *mut rte_mempool) -> *mut rte_mempool_cache {
        let lcore = lcore_id();
        // SAFETY: a live pool; local_cache has RTE_MAX_LCORE entries when
        // cache_size is not 0.
        unsafe {
            if (*mp).cache_size == 0 || lcore >= dpdk_sys::RTE_MAX_LCORE {
                std::ptr::null_mut()
            } else {
                (*mp).local_cache.add(lcore as usize)
            }
        }
    }

    /// # Safety
    /// As `super::pktmbuf_alloc`.
    #[inline(always)]
    pub(super) unsafe fn pktmbuf_alloc(mp: *mut rte_mempool) -> *mut rte_mbuf {
        // SAFETY: the cache is this lcore's (see the module's docs) and its
        // first `len` slots hold free objects of the pool, which for a packet
        // pool are initialised mbufs; the reset writes the fields
        // `rte_pktmbuf_reset` writes.
        unsafe {
            let cache = default_cache(mp);
            if !cache.is_null() && (*cache).len != 0 {
                (*cache).len -= 1;
                let m = (*cache)
                    .objs
                    .as_ptr()
                    .add((*cache).len as usize)
                    .read()
                    .cast::<rte_mbuf>();
                reset(m);
                return m;
            }
            dpdk_sys::rte_pktmbuf_alloc(mp)
        }
    }

    /// # Safety
    /// As `super::pktmbuf_alloc_bulk`.
    #[inline(always)]
    pub(super) unsafe fn pktmbuf_alloc_bulk(
        mp: *mut rte_mempool,
        out: *mut *mut rte_mbuf,
        n: u32,
    ) -> i32 {
        // SAFETY: as in pktmbuf_alloc: with at least `n` objects in this
        // lcore's cache, `rte_mempool_get_bulk` takes the top `n`, last first,
        // and `rte_pktmbuf_alloc_bulk` resets each; `out` has room for `n`.
        unsafe {
            let cache = default_cache(mp);
            if !cache.is_null() && (*cache).len >= n {
                let top = (*cache).objs.as_ptr().add((*cache).len as usize);
                (*cache).len -= n;
                let take = |i: usize| {
                    let m = top.sub(i + 1).read().cast::<rte_mbuf>();
                    reset(m);
                    out.add(i).write(m);
                };
                // Four at a time, as DPDK's inline function does: the loop's
                // own count and branch once per four mbufs.
                let (n, mut i) = (n as usize, 0);
                while i + 4 <= n {
                    take(i);
                    take(i + 1);
                    take(i + 2);
                    take(i + 3);
                    i += 4;
                }
                while i < n {
                    take(i);
                    i += 1;
                }
                return 0;
            }
            dpdk_sys::rte_pktmbuf_alloc_bulk(mp, out, n)
        }
    }

    /// `rte_pktmbuf_reset`, field by field.
    ///
    /// # Safety
    /// `m` is an mbuf of a packet pool that the caller has just taken.
    #[inline(always)]
    unsafe fn reset(m: *mut rte_mbuf) {
        // SAFETY: the caller's contract; the fields are the mbuf's own.
        unsafe {
            *f::next(m) = std::ptr::null_mut();
            *f::pkt_len(m) = 0;
            *f::tx_offload(m) = 0;
            *f::vlan_tci(m) = 0;
            *f::vlan_tci_outer(m) = 0;
            *f::nb_segs(m) = 1;
            *f::port(m) = dpdk_sys::RTE_MBUF_PORT_INVALID as u16;
            *f::ol_flags(m) &= dpdk_sys::RTE_MBUF_F_EXTERNAL;
            *f::packet_type(m) = 0;
            *f::data_off(m) = (dpdk_sys::RTE_PKTMBUF_HEADROOM as u16).min(*f::buf_len(m));
            *f::data_len(m) = 0;
        }
    }

    /// # Safety
    /// As `super::pktmbuf_free`.
    #[inline(always)]
    pub(super) unsafe fn pktmbuf_free(m: *mut rte_mbuf) {
        // SAFETY: the caller owns `m`. One segment, direct (no attached or
        // external buffer) and holding the only reference is the case in which
        // `rte_pktmbuf_prefree_seg` changes nothing and `rte_mbuf_raw_free`
        // puts the mbuf back into its pool through this lcore's cache; the
        // reference count is read relaxed, as `rte_mbuf_refcnt_read` does.
        unsafe {
            let direct = *f::ol_flags(m)
                & (dpdk_sys::RTE_MBUF_F_INDIRECT | dpdk_sys::RTE_MBUF_F_EXTERNAL)
                == 0;
            if direct
                && (*f::next(m)).is_null()
                && *f::nb_segs(m) == 1
                && (*f::refcnt(m).cast::<AtomicU16>()).load(Ordering::Relaxed) == 1
            {
                let cache = default_cache(*f::pool(m));
                if !cache.is_null() && (*cache).len < (*cache).flushthresh {
                    let len = (*cache).len;
                    (*cache).objs.as_mut_ptr().add(len as usize).write(m.cast());
                    (*cache).len = len + 1;
                    return;
                }
            }
            dpdk_sys::rte_pktmbuf_free(m)
        }
    }

    /// The table's entry for `port`.
    ///
    /// # Safety
    /// `port` is a valid port id (below `RTE_MAX_ETHPORTS`).
    #[inline(always)]
    unsafe fn entry(port: u16) -> *const rte_eth_fp_ops {
        // SAFETY: a raw pointer into the static array (no reference to a
        // `static mut`), in bounds for a valid port id.
        unsafe {
            std::ptr::addr_of!(dpdk_sys::eth_fast_path::rte_eth_fp_ops)
                .cast::<rte_eth_fp_ops>()
                .add(port as usize)
        }
    }

    /// The queue's callback list head, or null: a relaxed load, as in C.
    ///
    /// # Safety
    /// `clbk` is the table's callback array for a valid queue.
    #[inline(always)]
    unsafe fn callbacks(clbk: *mut *mut c_void, queue: u16) -> *mut c_void {
        // SAFETY: the slot is a pointer-sized, aligned word DPDK writes
        // atomically; AtomicPtr has the same layout.
        unsafe { (*clbk.add(queue as usize).cast::<AtomicPtr<c_void>>()).load(Ordering::Relaxed) }
    }

    /// # Safety
    /// As `super::rx_burst`.
    #[inline(always)]
    pub(super) unsafe fn rx_burst(port: u16, queue: u16, pkts: *mut *mut rte_mbuf, n: u16) -> u16 {
        // SAFETY: a valid port and one of its queues (the caller's contract):
        // the entry and its queue arrays (RTE_MAX_QUEUES_PER_PORT slots) are
        // DPDK's for the process's life, and the functions are the driver's or
        // DPDK's dummies, which take exactly these arguments.
        unsafe {
            let p = entry(port);
            let qd = *(*p).rxq.data.add(queue as usize);
            // Non-null: checked when the queue handle was taken
            // (`Port::rx_queue`), and kept so while it lives.
            let mut got = (*p).rx_pkt_burst.unwrap_unchecked()(qd, pkts, n);
            if DPDK_RS_FP_RXTX_CALLBACKS != 0 {
                let cb = callbacks((*p).rxq.clbk, queue);
                if !cb.is_null() {
                    got = rte_eth_call_rx_callbacks(port, queue, pkts, got, n, cb);
                }
            }
            got
        }
    }

    /// # Safety
    /// As `super::tx_burst`.
    #[inline(always)]
    pub(super) unsafe fn tx_burst(port: u16, queue: u16, pkts: *mut *mut rte_mbuf, n: u16) -> u16 {
        // SAFETY: as in rx_burst; the callbacks run before the driver, as in
        // DPDK's inline function, and may drop packets from the count.
        unsafe {
            let p = entry(port);
            let qd = *(*p).txq.data.add(queue as usize);
            let mut n = n;
            if DPDK_RS_FP_RXTX_CALLBACKS != 0 {
                let cb = callbacks((*p).txq.clbk, queue);
                if !cb.is_null() {
                    n = rte_eth_call_tx_callbacks(port, queue, pkts, n, cb);
                }
            }
            // Non-null, as in rx_burst (`Port::tx_queue`).
            (*p).tx_pkt_burst.unwrap_unchecked()(qd, pkts, n)
        }
    }
}
