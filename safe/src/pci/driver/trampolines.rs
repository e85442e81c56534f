//! What DPDK calls: the probe and remove trampolines that turn DPDK's
//! pointers back into the registration and the Rust driver.

use std::ffi::{c_int, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::PoisonError;

use dpdk_sys::pci_driver_sdk as sdk;

use crate::bus_lock::this_thread_holds_bus;
use crate::pci::driver::bound::revoke;
use crate::pci::driver::probed::ProbedDevice;
use crate::pci::driver::registration::Registration;
use crate::pci::driver::PciDriver;

/// What the probe trampoline returns to DPDK for a refusal: a negative errno,
/// whatever the driver put in its [`ProbeFailure`] (0, negative, `i32::MIN`).
pub(super) fn probe_failure_code(errno: i32) -> c_int {
    let errno = c_int::try_from(errno.unsigned_abs()).unwrap_or(libc::EIO);
    -errno.max(1)
}

/// Logs through DPDK's log, as DPDK's own drivers do.
fn log_error(message: &str) {
    // Miri cannot call C; its runs of the unit tests print instead.
    if cfg!(miri) {
        eprintln!("{message}");
        return;
    }
    if let Ok(text) = CString::new(message) {
        // SAFETY: "%s\n" with one valid C string argument.
        unsafe { dpdk_sys::rte_log(dpdk_sys::RTE_LOG_ERR, 0, c"%s\n".as_ptr(), text.as_ptr()) };
    }
}

/// DPDK's "this driver does not take the device": it goes on to the next driver.
pub(super) const NOT_SUPPORTED: c_int = 1;

pub(super) unsafe extern "C" fn probe_trampoline<D: PciDriver>(
    drv: *mut sdk::rte_pci_driver,
    dev: *mut sdk::rte_pci_device,
) -> c_int {
    // SAFETY: DPDK calls this with the rte_pci_driver we registered, which starts
    // a Registration<D> that stays allocated while DPDK can call it (module
    // docs), and a live device.
    let (reg, device) = unsafe { (&*drv.cast::<Registration<D>>(), ProbedDevice::from_raw(dev)) };
    if reg.header.retired.load(Ordering::Acquire) {
        // The handle is gone; the next sweep takes the driver off the list.
        return NOT_SUPPORTED;
    }
    let name = reg.header.name.to_string_lossy();
    if !this_thread_holds_bus() {
        log_error(&format!(
            "{name}: refused to probe {}: the request did not come from this process's \
             own DPDK calls (another process's hotplug request?)",
            device.address()
        ));
        return NOT_SUPPORTED;
    }
    match catch_unwind(AssertUnwindSafe(|| reg.driver.probe(&device))) {
        Ok(Ok(state)) => {
            let address = device.address();
            let mut devices = reg.devices.lock().unwrap_or_else(PoisonError::into_inner);
            devices.retain(|(a, _)| *a != address);
            devices.push((address, state));
            reg.header.bound.fetch_add(1, Ordering::AcqRel);
            0
        }
        Ok(Err(failure)) => {
            revoke(device.raw());
            log_error(&format!(
                "{name}: probe of {} failed: {failure}",
                device.address()
            ));
            probe_failure_code(failure.errno)
        }
        Err(_) => {
            revoke(device.raw());
            log_error(&format!("{name}: probe of {} panicked", device.address()));
            -libc::EIO
        }
    }
}

pub(super) unsafe extern "C" fn remove_trampoline<D: PciDriver>(
    dev: *mut sdk::rte_pci_device,
) -> c_int {
    // SAFETY: DPDK passes a live device bound to this driver; its `driver`
    // field points at our registration's rte_pci_driver, which a bound device
    // keeps allocated (module docs).
    let (reg, device) = unsafe {
        (
            &*(*dev).driver.cast::<Registration<D>>(),
            ProbedDevice::from_raw(dev),
        )
    };
    if !this_thread_holds_bus() {
        // A remove DPDK runs for another process: refused, so DPDK keeps the
        // device (and its pointer to this registration) as it was.
        log_error(&format!(
            "{}: refused to remove {}: the request did not come from this process's \
             own DPDK calls (another process's hotplug request?)",
            reg.header.name.to_string_lossy(),
            device.address()
        ));
        return -libc::EBUSY;
    }
    let state = {
        let address = device.address();
        let mut devices = reg.devices.lock().unwrap_or_else(PoisonError::into_inner);
        let at = devices.iter().position(|(a, _)| *a == address);
        at.map(|i| devices.swap_remove(i).1)
    };
    let removed = match state {
        Some(state) => catch_unwind(AssertUnwindSafe(|| reg.driver.remove(&device, state))),
        // A device this registration never recorded (not probed by it): nothing to give back.
        None => Ok(()),
    };
    // DPDK frees the device once this returns: no handle may reach it after.
    revoke(device.raw());
    if removed.is_err() {
        log_error(&format!(
            "{}: remove of {} panicked",
            reg.header.name.to_string_lossy(),
            device.address()
        ));
    }
    reg.header.bound.fetch_sub(1, Ordering::AcqRel);
    0
}
