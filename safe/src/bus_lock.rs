//! The bus lock: held around every DPDK call that can run PCI driver callbacks
//! or walk the PCI driver list (`rte_eal_init`, `rte_dev_probe`,
//! `rte_dev_remove`, `rte_eal_cleanup`, `rte_pci_register`), so that a Rust
//! driver's registration is never freed while DPDK may use it.
//!
//! A leaf of the module graph: registrations whose handle was dropped are
//! handed here as [`Retiree`]s (two functions and a pointer), and the guard
//! that releases the lock is what frees them, so neither the EAL nor the
//! driver code has to remember to sweep.

use std::cell::Cell;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::ptr::NonNull;
use std::sync::{Mutex, MutexGuard, PoisonError, TryLockError};

static BUS: Mutex<()> = Mutex::new(());

thread_local! {
    /// Whether this thread holds the bus lock: a driver callback that DPDK runs
    /// on a thread without it (DPDK's interrupt thread, for a hotplug request of
    /// another process) was not started by this crate and is refused.
    static HOLDS_BUS: Cell<bool> = const { Cell::new(false) };
}

/// Something to free once DPDK no longer uses it: a driver registration whose
/// handle was dropped.
pub(crate) struct Retiree {
    /// The allocation, owned by the retired list from `retire` until `free`.
    pub(crate) ptr: NonNull<()>,
    /// Called under the bus lock: takes it off DPDK's lists and says whether
    /// it can be freed now.
    pub(crate) unlist: unsafe fn(NonNull<()>) -> bool,
    /// Frees it; called with no lock of this crate held.
    pub(crate) free: unsafe fn(NonNull<()>),
}

// SAFETY: a retiree is only touched through its two functions, under the bus
// lock or once owned by one sweep alone; `retire`'s caller vouches that the
// allocation may be freed from any thread.
unsafe impl Send for Retiree {}

/// Registrations whose handle was dropped, until a guard's release frees them.
static RETIRED: Mutex<Vec<Retiree>> = Mutex::new(Vec::new());

/// Proof that this thread holds the bus lock. Dropping it takes the retired
/// registrations off DPDK's lists (lock held), releases the lock, and then
/// frees those no device uses any more: their `Drop` (the user's code) runs
/// with no lock of this crate held, so it may drop or register drivers.
pub(crate) struct BusGuard {
    guard: Option<MutexGuard<'static, ()>>,
}

impl BusGuard {
    fn new(guard: MutexGuard<'static, ()>) -> Self {
        HOLDS_BUS.with(|h| h.set(true));
        BusGuard { guard: Some(guard) }
    }
}

impl Drop for BusGuard {
    fn drop(&mut self) {
        let freeable: Vec<Retiree> = {
            let mut retired = RETIRED.lock().unwrap_or_else(PoisonError::into_inner);
            let (free, keep): (Vec<Retiree>, Vec<Retiree>) = retired.drain(..).partition(|entry| {
                // SAFETY: every entry is live and owned by the list; the bus
                // lock is held, so no DPDK call is walking the driver list
                // or running a callback (`retire`'s contract).
                unsafe { (entry.unlist)(entry.ptr) }
            });
            *retired = keep;
            free
        };
        HOLDS_BUS.with(|h| h.set(false));
        drop(self.guard.take());
        let mut first_panic = None;
        for entry in freeable {
            // SAFETY: the entry left the list above and is owned here alone;
            // `unlist` said DPDK holds no pointer to it any more.
            let freed = catch_unwind(AssertUnwindSafe(|| unsafe { (entry.free)(entry.ptr) }));
            if let Err(payload) = freed {
                first_panic.get_or_insert(payload);
            }
        }
        // A panicking `Drop` of a driver is passed on, after every other free,
        // unless this thread is already unwinding (a second panic would abort).
        if let Some(payload) = first_panic {
            if !std::thread::panicking() {
                resume_unwind(payload);
            }
        }
    }
}

/// Takes the bus lock, waiting for it.
pub(crate) fn lock_bus() -> BusGuard {
    BusGuard::new(BUS.lock().unwrap_or_else(PoisonError::into_inner))
}

/// Takes the bus lock if it is free now; `None` when some thread (maybe this
/// one, inside a driver callback) holds it.
#[cfg_attr(not(dpdk_pci_driver), allow(dead_code))]
pub(crate) fn try_lock_bus() -> Option<BusGuard> {
    match BUS.try_lock() {
        Ok(guard) => Some(BusGuard::new(guard)),
        Err(TryLockError::Poisoned(poisoned)) => Some(BusGuard::new(poisoned.into_inner())),
        Err(TryLockError::WouldBlock) => None,
    }
}

/// Whether the calling thread holds the bus lock, i.e. whether the DPDK call
/// now running on it was made by this crate.
#[cfg_attr(not(dpdk_pci_driver), allow(dead_code))]
pub(crate) fn this_thread_holds_bus() -> bool {
    HOLDS_BUS.with(Cell::get)
}

/// Hands `entry` to the retired list; the next guard released (this one's, if
/// the lock is free now) unlists and frees it.
///
/// # Safety
/// `entry.ptr` is live and owned by nobody else from here on; `unlist` may be
/// called on it with the bus lock held and returns true only when nothing
/// (DPDK included) holds a pointer to it; `free` frees it, from any thread.
#[cfg_attr(not(dpdk_pci_driver), allow(dead_code))]
pub(crate) unsafe fn retire(entry: Retiree) {
    RETIRED
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(entry);
    // Never wait: this may run inside a driver callback, while this thread's
    // own DPDK call holds the lock; that call's guard then does the work.
    drop(try_lock_bus());
}
