//! A device handle that outlives the probe callback and is revoked when DPDK
//! removes the device (the `Devres` idea of Rust-for-Linux).
//!
//! [`ProbedDevice::bind`] makes a [`BoundDevice`]: the driver keeps it in its
//! per-device state (what [`PciDriver::probe`](crate::PciDriver::probe)
//! returns), and any thread reaches the device through it with
//! [`BoundDevice::with`], which lends a [`ProbedDevice`] (config space, BARs,
//! DPDK's BAR handle) for the length of a closure. DPDK frees its
//! `rte_pci_device` after the driver's remove, so the remove trampoline revokes
//! every handle of the device once the driver's `remove` returned: from then
//! on `with` is [`Revoked`], never a stale pointer. The revocation waits for a
//! closure that is running on another thread; a closure must not remove its
//! own device (it would wait for itself).

use std::sync::{Arc, Mutex, PoisonError, RwLock, Weak};

use dpdk_sys::pci_driver_sdk as sdk;

use crate::pci::address::PciAddress;
use crate::pci::driver::probed::ProbedDevice;

/// The device behind a [`BoundDevice`] was removed from DPDK's bus.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("PCI device {0} was removed from DPDK's bus: its handle is revoked")]
pub struct Revoked(pub PciAddress);

/// One device's binding: DPDK's pointer while it is alive, NULL once revoked.
#[derive(Debug)]
struct Binding {
    address: PciAddress,
    /// DPDK's device, as an integer so the lock is `Sync`; 0 once revoked.
    raw: RwLock<usize>,
}

/// Every binding made and not yet revoked, by DPDK's device pointer.
static BINDINGS: Mutex<Vec<(usize, Weak<Binding>)>> = Mutex::new(Vec::new());

/// A handle to a device a Rust driver probed, valid from probe to remove and
/// revoked after: clone it, keep it, use it from any thread.
#[derive(Debug, Clone)]
pub struct BoundDevice {
    binding: Arc<Binding>,
}

impl ProbedDevice<'_> {
    /// A handle to this device that outlives the callback: until DPDK removes
    /// the device, then [`Revoked`].
    pub fn bind(&self) -> BoundDevice {
        let raw = self.raw() as usize;
        let binding = Arc::new(Binding {
            address: self.address(),
            raw: RwLock::new(raw),
        });
        let mut all = BINDINGS.lock().unwrap_or_else(PoisonError::into_inner);
        all.retain(|(_, weak)| weak.strong_count() > 0);
        all.push((raw, Arc::downgrade(&binding)));
        BoundDevice { binding }
    }
}

impl BoundDevice {
    /// The device's address (also after it was removed).
    pub fn address(&self) -> PciAddress {
        self.binding.address
    }

    /// Whether DPDK removed the device.
    pub fn is_revoked(&self) -> bool {
        if held_here(&self.binding).is_some() {
            return false;
        }
        *self
            .binding
            .raw
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            == 0
    }

    /// Runs `f` with the device, which stays on DPDK's bus until `f` returns
    /// (a removal on another thread waits); [`Revoked`] once it was removed.
    /// `f` may use this handle (or a clone) again: a nested call reuses the
    /// outer one's hold on the device rather than queueing behind a removal
    /// that waits for the outer one.
    pub fn with<R>(&self, f: impl FnOnce(&ProbedDevice<'_>) -> R) -> Result<R, Revoked> {
        if let Some(raw) = held_here(&self.binding) {
            // SAFETY: an outer `with` on this thread holds the read guard for
            // this binding (see below) for longer than this call.
            let device = unsafe { ProbedDevice::from_raw(raw as *mut sdk::rte_pci_device) };
            return Ok(f(&device));
        }
        let raw = self
            .binding
            .raw
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        if *raw == 0 {
            return Err(Revoked(self.binding.address));
        }
        let _held = Held::enter(&self.binding, *raw);
        // SAFETY: the pointer is DPDK's live device: DPDK frees it only after
        // the remove trampoline returned, which first revokes this binding under
        // the write lock, and that waits for this read guard. The ProbedDevice
        // borrows the guard's scope and cannot leave the closure.
        let device = unsafe { ProbedDevice::from_raw(*raw as *mut sdk::rte_pci_device) };
        Ok(f(&device))
    }
}

thread_local! {
    /// The bindings this thread holds a read guard of (inside `with`), with
    /// DPDK's device pointer each: nested calls use them without locking again
    /// (a second read of a lock a removal waits to write would wait forever).
    static HELD: std::cell::RefCell<Vec<(*const Binding, usize)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// DPDK's device pointer of `binding` when this thread is inside `with` on it.
fn held_here(binding: &Arc<Binding>) -> Option<usize> {
    let key = Arc::as_ptr(binding);
    HELD.with(|held| {
        held.borrow()
            .iter()
            .find(|(b, _)| *b == key)
            .map(|(_, raw)| *raw)
    })
}

/// This thread's entry in [`HELD`] while an outer `with` runs; removed on drop
/// (also when the closure panics), before the read guard is released.
struct Held;

impl Held {
    fn enter(binding: &Arc<Binding>, raw: usize) -> Held {
        HELD.with(|held| held.borrow_mut().push((Arc::as_ptr(binding), raw)));
        Held
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        HELD.with(|held| held.borrow_mut().pop());
    }
}

/// Revokes every handle of `raw`: called by the remove trampoline after the
/// driver's `remove`, and by the probe trampoline when probe failed.
pub(super) fn revoke(raw: *mut sdk::rte_pci_device) {
    let key = raw as usize;
    let revoked: Vec<Arc<Binding>> = {
        let mut all = BINDINGS.lock().unwrap_or_else(PoisonError::into_inner);
        let found = all
            .iter()
            .filter(|(p, _)| *p == key)
            .filter_map(|(_, weak)| weak.upgrade())
            .collect();
        all.retain(|(p, weak)| *p != key && weak.strong_count() > 0);
        found
    };
    for binding in revoked {
        *binding.raw.write().unwrap_or_else(PoisonError::into_inner) = 0;
    }
}

// `BoundDevice` is Send + Sync through Arc<Binding>, which holds an integer and
// a lock: the pointer is only turned back into a device under the read lock.
const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<BoundDevice>();
};
