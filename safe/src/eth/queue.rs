//! RX and TX queue handles: one lcore each, bursts into and out of a [`Burst`].

use std::marker::PhantomData;
use std::sync::atomic::Ordering;

use crate::eth::fast_path;
use crate::eth::mbuf::Burst;
use crate::eth::port::Port;

/// An RX queue of a started port, owned by one lcore at a time: `Send` (it
/// may move to the lcore that polls it) but not `Sync` (DPDK's RX functions
/// are not safe for two threads on one queue).
pub struct RxQueue<'p, 'eal> {
    port: &'p Port<'eal>,
    port_id: u16,
    queue: u16,
    _not_sync: PhantomData<std::cell::Cell<()>>,
}

/// A TX queue of a started port; `Send`, not `Sync`, like [`RxQueue`].
pub struct TxQueue<'p, 'eal> {
    port: &'p Port<'eal>,
    port_id: u16,
    queue: u16,
    _not_sync: PhantomData<std::cell::Cell<()>>,
}

impl std::fmt::Debug for RxQueue<'_, '_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RxQueue(port {}, queue {})", self.port_id, self.queue)
    }
}

impl std::fmt::Debug for TxQueue<'_, '_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TxQueue(port {}, queue {})", self.port_id, self.queue)
    }
}

impl<'p, 'eal> RxQueue<'p, 'eal> {
    pub(crate) fn new(port: &'p Port<'eal>, queue: u16) -> Self {
        RxQueue {
            port,
            port_id: port.id(),
            queue,
            _not_sync: PhantomData,
        }
    }

    /// The port id.
    pub fn port_id(&self) -> u16 {
        self.port_id
    }

    /// The queue id.
    pub fn queue_id(&self) -> u16 {
        self.queue
    }

    /// Receives up to `burst.spare()` packets, appended to `burst`; returns how
    /// many arrived. Allocates nothing.
    ///
    /// Sound without checks: the port is started for as long as this handle
    /// lives (taking it needs a started port, stopping needs `&mut Port`),
    /// its driver's burst function was there when the handle was taken (a
    /// driver without one gives [`PortError::NoBurstFunction`](crate::eth::PortError::NoBurstFunction)), only this handle polls the queue (it is not `Sync`, and the port hands
    /// out one per queue), and the burst's spare slots are where DPDK writes.
    #[inline(always)]
    pub fn rx_burst(&mut self, burst: &mut Burst<'eal>) -> usize {
        // A burst holds at most MAX_BURST (u16::MAX) mbufs: no truncation.
        // A full burst asks for 0, which drivers answer with 0 (as C's callers
        // may ask for 0, and DPDK's TX callbacks may leave 0 for the driver).
        let spare = burst.spare() as u16;
        let tail = burst.spare_ptr();
        // SAFETY: see above; DPDK writes at most `spare` owned mbufs at tail.
        let got = unsafe { fast_path::rx_burst(self.port_id, self.queue, tail, spare) } as usize;
        // SAFETY: the `got` slots after len now hold mbufs the burst owns.
        unsafe { burst.set_len(burst.len() + got) };
        got
    }
}

impl<'p, 'eal> TxQueue<'p, 'eal> {
    pub(crate) fn new(port: &'p Port<'eal>, queue: u16) -> Self {
        TxQueue {
            port,
            port_id: port.id(),
            queue,
            _not_sync: PhantomData,
        }
    }

    /// The port id.
    pub fn port_id(&self) -> u16 {
        self.port_id
    }

    /// The queue id.
    pub fn queue_id(&self) -> u16 {
        self.queue
    }

    /// Sends the burst's packets, first to last; returns how many the driver
    /// took. Those leave the burst (the driver frees them once sent); the ones
    /// it did not take stay in `burst`, moved to its front, still owned.
    /// Allocates nothing.
    #[inline(always)]
    pub fn tx_burst(&mut self, burst: &mut Burst<'eal>) -> usize {
        // As in rx_burst: at most MAX_BURST (u16::MAX); an empty burst sends 0.
        let len = burst.len() as u16;
        // SAFETY: as for rx_burst; the first `len` slots hold owned mbufs, and
        // the ones DPDK takes (the first `sent`) are dropped from the burst
        // without being freed.
        let sent = unsafe { fast_path::tx_burst(self.port_id, self.queue, burst.slots_ptr(), len) }
            as usize;
        burst.consume_front(sent);
        sent
    }
}

impl Drop for RxQueue<'_, '_> {
    fn drop(&mut self) {
        if let Some(flag) = self.port.rx_taken.get(self.queue as usize) {
            flag.store(false, Ordering::Release);
        }
    }
}

impl Drop for TxQueue<'_, '_> {
    fn drop(&mut self) {
        if let Some(flag) = self.port.tx_taken.get(self.queue as usize) {
            flag.store(false, Ordering::Release);
        }
    }
}
