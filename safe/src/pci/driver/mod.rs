//! PCI drivers written in Rust, registered on DPDK's PCI bus.
//!
//! A driver is a value implementing [`PciDriver`], registered with an ID table
//! and flags by [`register`] before the EAL starts (or [`Eal::register_driver`](crate::Eal::register_driver)
//! for hot-plug afterwards). DPDK's scan matches it against devices, maps their
//! BARs through its own VFIO code when asked to ([`DriverFlags::NEED_MAPPING`]),
//! and calls [`PciDriver::probe`] and [`PciDriver::remove`] with a
//! [`ProbedDevice`]: address, IDs, NUMA node, config space and BARs.
//!
//! # Who owns the registration, and when it is freed
//!
//! DPDK keeps a pointer to the registration (DPDK's `struct rte_pci_driver`, its
//! name, the ID table and the Rust driver, in one heap allocation) in two places:
//! the PCI bus's driver list, from `rte_pci_register` to `rte_pci_unregister`, and
//! every device it probed with the driver, from the probe until the device is
//! removed (`rte_dev_remove`, or `rte_eal_cleanup`). The registration is freed
//! only when neither holds it **and** no DPDK call that could still be using it
//! is running:
//!
//! * Every call into DPDK that can run driver callbacks or walk the driver list
//!   (`rte_eal_init`, `rte_dev_probe`, `rte_dev_remove`, `rte_eal_cleanup`,
//!   `rte_pci_register`) is made with the process-wide bus lock held
//!   (`pci::bus::lock_bus`). DPDK reads the driver again *after* a callback
//!   returns (its flags, to unmap the device), so a callback returning is not
//!   enough: the whole DPDK call must be over.
//! * Dropping the [`Registered`] handle tries to take that lock without waiting.
//!   With it, and no device bound (the trampolines count successful probes and
//!   removals), the driver is unregistered from the bus and then freed: after
//!   `rte_pci_unregister` DPDK holds no pointer to it any more.
//! * Otherwise (a device is still bound, or the handle is dropped inside a
//!   callback or while another thread is inside DPDK) the registration is
//!   *retired*: moved to a process-wide list, still registered and reachable, and
//!   freed by a later sweep under the bus lock once no device is bound (after
//!   [`Eal::probe`](crate::Eal::probe), [`Eal::remove`](crate::Eal::remove), or the next drop of a handle). Whatever is
//!   still retired when the process exits stays reachable from that list; nothing
//!   is lost, and DPDK never calls into freed memory.

mod bound;
mod config;
mod dpdk_bar;
mod ids;
mod interrupts;
mod probed;
mod registration;
mod trampolines;

use crate::io::error::AccessError;

pub use bound::{BoundDevice, Revoked};
pub use config::DpdkConfig;
pub use dpdk_bar::{DpdkBar, DpdkBarError};
pub use ids::{DriverFlags, PciIdPattern, ANY_ID};
pub use probed::ProbedDevice;
pub use registration::{register, Registered};

/// Why a probe failed; DPDK receives it as a negative errno and logs it.
#[derive(Debug, thiserror::Error)]
#[error("{message} (errno {errno})")]
pub struct ProbeFailure {
    /// The error number (e.g. `libc::ENODEV`); DPDK receives minus its absolute value, `-EIO`
    /// when that does not fit a C `int`, and -1 for 0.
    pub errno: i32,
    /// Why the device was refused; logged through DPDK's log.
    pub message: String,
}

impl ProbeFailure {
    /// A failure with error number `errno` (see [`errno`](Self::errno)) and a message for the log.
    pub fn new(errno: i32, message: impl Into<String>) -> Self {
        ProbeFailure {
            errno,
            message: message.into(),
        }
    }
}

impl From<AccessError> for ProbeFailure {
    fn from(e: AccessError) -> Self {
        ProbeFailure::new(libc::EIO, e.to_string())
    }
}

/// A PCI driver. DPDK calls it from the thread that probes (EAL start-up, or
/// [`Eal::probe`](crate::Eal::probe)), hence `Send + Sync`.
///
/// `probe` returns the driver's state for the device ([`PciDriver::Device`]);
/// the framework keeps it until `remove`, which gets it back (the application
/// reaches it meanwhile through [`Registered::with_device`]). To reach the
/// device after probe, keep a [`BoundDevice`] ([`ProbedDevice::bind`]) in it.
pub trait PciDriver: Send + Sync + 'static {
    /// What the driver keeps for each device it took, from probe to remove.
    type Device: Send + 'static;
    /// Takes the device, or refuses it with a [`ProbeFailure`].
    fn probe(&self, device: &ProbedDevice<'_>) -> Result<Self::Device, ProbeFailure>;
    /// Lets the device go (`rte_dev_remove`, or EAL cleanup), with the state
    /// probe returned. Handles bound to the device are revoked after it returns.
    fn remove(&self, device: &ProbedDevice<'_>, state: Self::Device);
}

/// Why a driver could not be registered.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegisterError {
    /// The ID table has no entry; holds the driver's name.
    #[error("driver {0:?}: the ID table is empty")]
    EmptyIdTable(String),
    /// An ID table entry has vendor ID 0, which DPDK reads as the end of the table.
    #[error("driver {name:?}: ID table entry {index} has vendor 0, which ends DPDK's table early")]
    VendorZero {
        /// The driver's name.
        name: String,
        /// The position of the entry in the ID table, from 0.
        index: usize,
    },
    /// The name is empty or has a NUL byte, so DPDK cannot hold it; holds the name.
    #[error("driver name {0:?} is empty or contains a NUL byte")]
    BadName(String),
    /// This process already has a registered driver of this name; holds the name.
    #[error("a driver named {0:?} is already registered")]
    AlreadyRegistered(String),
    /// [`register`] was called after the EAL's start-up probe; holds the driver's name.
    #[error(
        "driver {0:?}: the EAL has started and its bus probe is over; register before \
         EalBuilder::init, or use Eal::register_driver and then Eal::probe"
    )]
    BusAlreadyProbed(String),
}

#[cfg(test)]
mod tests {
    //! The registration's life in pure Rust, as DPDK would drive it: these
    //! tests call no C, so tools/miri.sh runs them under Miri (Stacked Borrows),
    //! which checks that the pointer DPDK gets may reach the whole registration.

    use std::ffi::CString;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use dpdk_sys::pci_driver_sdk as sdk;

    use super::registration::{free_registration, new_registration, raw_driver, Header};
    use super::trampolines::{
        probe_failure_code, probe_trampoline, remove_trampoline, NOT_SUPPORTED,
    };
    use super::*;
    use crate::bus_lock::lock_bus;

    struct Counting(AtomicUsize);

    impl PciDriver for Counting {
        type Device = ();
        fn probe(&self, device: &ProbedDevice<'_>) -> Result<(), ProbeFailure> {
            self.0.fetch_add(1, Ordering::AcqRel);
            if device.ids().vendor == 0x1234 {
                Ok(())
            } else {
                Err(ProbeFailure::new(i32::MIN, "not ours"))
            }
        }
        fn remove(&self, _: &ProbedDevice<'_>, _state: ()) {
            self.0.fetch_add(100, Ordering::AcqRel);
        }
    }

    fn fake_device(vendor: u16) -> Box<sdk::rte_pci_device> {
        // SAFETY: a plain C struct for which all-zero is a valid value.
        let mut dev: Box<sdk::rte_pci_device> = Box::new(unsafe { std::mem::zeroed() });
        dev.id.vendor_id = vendor;
        dev.id.device_id = 0x11e8;
        dev
    }

    #[test]
    fn trampolines_reach_the_whole_registration_through_dpdks_pointer() {
        let name = CString::new("rs_miri").unwrap();
        let reg = new_registration(
            name,
            &[PciIdPattern::new(0x1234, 0x11e8)],
            DriverFlags::empty(),
            Counting(AtomicUsize::new(0)),
        );
        let drv = raw_driver(reg);
        let mut dev = fake_device(0x1234);
        let bus = lock_bus();
        // SAFETY: `drv` starts a live Registration<Counting>, `dev` is a live
        // device; this is what DPDK's probe does, with the bus lock held.
        assert_eq!(unsafe { probe_trampoline::<Counting>(drv, &mut *dev) }, 0);
        dev.driver = drv;
        // SAFETY: as above; the device is bound to this driver.
        assert_eq!(unsafe { remove_trampoline::<Counting>(&mut *dev) }, 0);
        // A refusal with errno i32::MIN is -EIO, not an overflow.
        let mut other = fake_device(0x8086);
        assert_eq!(
            // SAFETY: as above.
            unsafe { probe_trampoline::<Counting>(drv, &mut *other) },
            -libc::EIO
        );
        drop(bus);
        // SAFETY: the registration is live and was never handed to DPDK.
        let h = unsafe { reg.cast::<Header>().as_ref() };
        assert_eq!(h.bound.load(Ordering::Acquire), 0);
        assert_eq!(
            // SAFETY: as above; read before the free.
            unsafe { reg.as_ref() }.driver.0.load(Ordering::Acquire),
            102
        );
        let free = h.free;
        // SAFETY: nothing uses the registration any more.
        unsafe { free(reg.cast()) };
    }

    #[test]
    fn callbacks_on_a_thread_without_the_bus_lock_are_refused() {
        let reg = new_registration(
            CString::new("rs_miri_lockless").unwrap(),
            &[PciIdPattern::new(0x1234, 0x11e8)],
            DriverFlags::empty(),
            Counting(AtomicUsize::new(0)),
        );
        let drv = raw_driver(reg);
        let mut dev = fake_device(0x1234);
        // No bus lock on this thread: as for another process's hotplug request.
        assert_eq!(
            // SAFETY: live registration and device, as DPDK would pass them.
            unsafe { probe_trampoline::<Counting>(drv, &mut *dev) },
            NOT_SUPPORTED
        );
        dev.driver = drv;
        assert_eq!(
            // SAFETY: as above.
            unsafe { remove_trampoline::<Counting>(&mut *dev) },
            -libc::EBUSY
        );
        // SAFETY: live, never handed to DPDK.
        assert_eq!(unsafe { reg.as_ref() }.driver.0.load(Ordering::Acquire), 0);
        // A retired driver refuses even with the lock.
        // SAFETY: as above.
        unsafe { reg.cast::<Header>().as_ref() }
            .retired
            .store(true, Ordering::Release);
        let bus = lock_bus();
        assert_eq!(
            // SAFETY: as above.
            unsafe { probe_trampoline::<Counting>(drv, &mut *dev) },
            NOT_SUPPORTED
        );
        drop(bus);
        // SAFETY: nothing uses the registration any more.
        unsafe { free_registration::<Counting>(reg.cast()) };
    }

    #[test]
    fn probe_failure_codes_are_negative_errnos() {
        assert_eq!(probe_failure_code(i32::MIN), -libc::EIO);
        assert_eq!(probe_failure_code(i32::MAX), -i32::MAX);
        assert_eq!(probe_failure_code(0), -1);
        assert_eq!(probe_failure_code(-libc::EBUSY), -libc::EBUSY);
        assert_eq!(probe_failure_code(libc::ENODEV), -libc::ENODEV);
    }
}
