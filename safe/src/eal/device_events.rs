//! Device events: DPDK telling the process that a device was added or is
//! being removed (`rte_dev_event_callback_register`). See [`DeviceEvents`].
//!
//! DPDK calls back on its interrupt thread. The crate registers one callback
//! for all devices, once per process, and never unregisters it: DPDK's
//! `rte_dev_event_callback_unregister` for "all devices" drops every
//! callback of the process, other code's included. Each [`DeviceEvents`]
//! value is a subscriber of that callback with its own queue; dropping it
//! unsubscribes.

use std::collections::VecDeque;
use std::ffi::{c_char, c_void, CStr};
use std::sync::{Arc, Condvar, Mutex, OnceLock, PoisonError, Weak};
use std::time::{Duration, Instant};

use crate::errno::DpdkErrno;
use crate::pci::address::PciAddress;

use super::Eal;

/// What happened to a device (DPDK's `enum rte_dev_event_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DeviceEventKind {
    /// The device appeared (`RTE_DEV_EVENT_ADD`).
    Added,
    /// The device is being removed: detach it (`RTE_DEV_EVENT_REMOVE`).
    Removed,
    /// A kind this crate does not know, by DPDK's number.
    Other(u32),
}

impl DeviceEventKind {
    fn from_dpdk(event: dpdk_sys::rte_dev_event_type) -> Self {
        match event {
            dpdk_sys::rte_dev_event_type_RTE_DEV_EVENT_ADD => DeviceEventKind::Added,
            dpdk_sys::rte_dev_event_type_RTE_DEV_EVENT_REMOVE => DeviceEventKind::Removed,
            other => DeviceEventKind::Other(other),
        }
    }
}

/// One device event.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DeviceEvent {
    /// DPDK's name of the device (a PCI device's is its address, `0000:00:03.0`).
    pub device: String,
    /// What happened.
    pub kind: DeviceEventKind,
}

impl DeviceEvent {
    /// The device's PCI address, when its name is one.
    pub fn pci_address(&self) -> Option<PciAddress> {
        self.device.parse().ok()
    }
}

/// Subscribing to device events failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeviceEventsError {
    /// `rte_dev_event_callback_register` refused the crate's callback.
    #[error("DPDK refused the device event callback")]
    Register(#[source] DpdkErrno),
}

/// A subscriber's queue: the callback pushes, [`DeviceEvents`] pops.
#[derive(Debug, Default)]
struct Queue {
    events: Mutex<VecDeque<DeviceEvent>>,
    arrived: Condvar,
}

/// Every live subscriber.
static SUBSCRIBERS: Mutex<Vec<Weak<Queue>>> = Mutex::new(Vec::new());
/// What registering the callback returned, once per process.
static REGISTERED: OnceLock<i32> = OnceLock::new();

/// DPDK's callback for every device: hands a copy of the event to each
/// subscriber. Runs on DPDK's interrupt thread; never unwinds into C (it
/// takes locks whose poisoning it ignores, and copies a string).
unsafe extern "C" fn on_device_event(
    name: *const c_char,
    event: dpdk_sys::rte_dev_event_type,
    _arg: *mut c_void,
) {
    if name.is_null() {
        return;
    }
    // SAFETY: DPDK passes the device's NUL-terminated name, valid for the call
    // (rte_dev_event_callback_process returns early on NULL, checked above too).
    let device = unsafe { CStr::from_ptr(name) }
        .to_string_lossy()
        .into_owned();
    let event = DeviceEvent {
        device,
        kind: DeviceEventKind::from_dpdk(event),
    };
    let queues: Vec<Arc<Queue>> = SUBSCRIBERS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .filter_map(Weak::upgrade)
        .collect();
    for queue in queues {
        queue
            .events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push_back(event.clone());
        queue.arrived.notify_all();
    }
}

/// Device events from the moment this value was made until it is dropped,
/// queued in order. `Send` and `Sync`: wait on any thread.
///
/// The event a driver must act on is the removal request: when the kernel
/// wants a VFIO device back (hot-unplug), DPDK's PCI bus hears it through
/// VFIO's request notifier (for drivers with
/// [`DriverFlags::INTR_RMV`](crate::DriverFlags::INTR_RMV)) and reports
/// [`DeviceEventKind::Removed`]. DPDK leaves the device probed; the
/// application answers by detaching it ([`Eal::remove`]), which runs the
/// Rust driver's `remove` and revokes its
/// [`BoundDevice`](crate::BoundDevice)s. The kernel waits for that before it
/// takes the device away.
#[derive(Debug)]
pub struct DeviceEvents {
    queue: Arc<Queue>,
}

impl Eal {
    /// Subscribes to device events ([`DeviceEvents`]: removal requests are the
    /// ones a driver must answer).
    pub fn device_events(&self) -> Result<DeviceEvents, DeviceEventsError> {
        let ret = *REGISTERED.get_or_init(|| {
            // SAFETY: the callback is a function with DPDK's signature that
            // lives as long as the process; its argument is unused (NULL), and a
            // NULL device name means every device. It is never unregistered
            // (see the module docs), so DPDK never calls a freed pointer.
            unsafe {
                dpdk_sys::rte_dev_event_callback_register(
                    std::ptr::null(),
                    Some(on_device_event),
                    std::ptr::null_mut(),
                )
            }
        });
        if ret != 0 {
            return Err(DeviceEventsError::Register(DpdkErrno::new(-ret)));
        }
        let queue = Arc::new(Queue::default());
        let mut all = SUBSCRIBERS.lock().unwrap_or_else(PoisonError::into_inner);
        all.retain(|weak| weak.strong_count() > 0);
        all.push(Arc::downgrade(&queue));
        Ok(DeviceEvents { queue })
    }
}

impl DeviceEvents {
    /// The oldest event not taken yet, if one came.
    pub fn try_next(&self) -> Option<DeviceEvent> {
        self.queue
            .events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop_front()
    }

    /// The oldest event not taken yet, waiting up to `timeout` for one.
    pub fn next_timeout(&self, timeout: Duration) -> Option<DeviceEvent> {
        let deadline = Instant::now() + timeout;
        let mut events = self
            .queue
            .events
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        loop {
            if let Some(event) = events.pop_front() {
                return Some(event);
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            events = self
                .queue
                .arrived
                .wait_timeout(events, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

impl Drop for DeviceEvents {
    fn drop(&mut self) {
        let mut all = SUBSCRIBERS.lock().unwrap_or_else(PoisonError::into_inner);
        all.retain(|weak| weak.strong_count() > 0 && !std::ptr::eq(weak.as_ptr(), &*self.queue));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_follow_dpdk_numbers() {
        assert_eq!(
            DeviceEventKind::from_dpdk(dpdk_sys::rte_dev_event_type_RTE_DEV_EVENT_ADD),
            DeviceEventKind::Added
        );
        assert_eq!(
            DeviceEventKind::from_dpdk(dpdk_sys::rte_dev_event_type_RTE_DEV_EVENT_REMOVE),
            DeviceEventKind::Removed
        );
        assert_eq!(DeviceEventKind::from_dpdk(77), DeviceEventKind::Other(77));
        let event = DeviceEvent {
            device: "0000:00:03.0".to_owned(),
            kind: DeviceEventKind::Removed,
        };
        assert_eq!(event.pci_address(), Some(PciAddress::new(0, 0, 3, 0)));
        let vdev = DeviceEvent {
            device: "net_null0".to_owned(),
            kind: DeviceEventKind::Added,
        };
        assert_eq!(vdev.pci_address(), None);
    }
}
