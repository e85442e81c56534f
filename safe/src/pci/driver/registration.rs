//! The registration's life: one heap allocation per driver, linked into DPDK's
//! driver list, retired when its handle is dropped and freed by the bus lock's
//! guard once DPDK holds no pointer to it (see the module docs of `driver`).

use std::cell::UnsafeCell;
use std::collections::HashSet;
use std::ffi::CString;
use std::marker::PhantomData;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

use dpdk_sys::pci_driver_sdk as sdk;

use crate::bus_lock::{lock_bus, retire, Retiree};
use crate::eal::{eal_started, Eal};
use crate::pci::address::PciAddress;
use crate::pci::driver::ids::{DriverFlags, PciIdPattern, ANY_CLASS};
use crate::pci::driver::trampolines::{probe_trampoline, remove_trampoline};
use crate::pci::driver::{PciDriver, RegisterError};
use crate::pci::sysfs::PciClass;

/// Names of the drivers registered by this process; a name is released when
/// its registration is freed.
static NAMES: Mutex<Option<HashSet<String>>> = Mutex::new(None);

/// The part of a registration that does not depend on the driver's type. DPDK's
/// `rte_pci_driver` comes first, so DPDK's `struct rte_pci_driver *` is also a
/// pointer to the header and to the whole [`Registration`].
#[repr(C)]
pub(super) struct Header {
    /// Written by DPDK (list links, bus pointer) while registered, hence the cell.
    pub(super) raw: UnsafeCell<sdk::rte_pci_driver>,
    pub(super) name: CString,
    pub(super) ids: Vec<dpdk_sys::rte_pci_id>,
    /// Devices DPDK probed with this driver and has not removed yet.
    pub(super) bound: AtomicUsize,
    /// On DPDK's driver list (from `rte_pci_register` to `rte_pci_unregister`).
    pub(super) registered: AtomicBool,
    /// The handle was dropped: the probe trampoline refuses new devices until
    /// a sweep takes the driver off DPDK's list.
    pub(super) retired: AtomicBool,
    /// Frees the `Registration<D>` this header starts.
    pub(super) free: unsafe fn(NonNull<Header>),
}

/// One heap allocation per registered driver (see the module docs for its life).
#[repr(C)]
pub(super) struct Registration<D: PciDriver> {
    pub(super) header: Header,
    pub(super) driver: D,
    /// Each bound device's state, from probe to remove.
    pub(super) devices: Mutex<Vec<(PciAddress, D::Device)>>,
}

/// A registered driver. Dropping it takes the driver off DPDK's driver list (at
/// once, or at the next sweep when DPDK is busy) and frees it once no device is
/// bound to it (see the module docs).
pub struct Registered<D: PciDriver> {
    registration: NonNull<Registration<D>>,
    _owns: PhantomData<Registration<D>>,
}

// SAFETY: the handle owns a heap registration that belongs to the process, not
// to a thread: dropping it on any thread only takes the crate's locks and calls
// `rte_pci_unregister` under the bus lock, which DPDK allows from any thread;
// the driver it gives access to is `Send + Sync` (`PciDriver`'s bounds).
unsafe impl<D: PciDriver> Send for Registered<D> {}
// SAFETY: through `&Registered` only atomics, the immutable name and `&D`
// (which is `Sync`) are reached.
unsafe impl<D: PciDriver> Sync for Registered<D> {}

impl<D: PciDriver> Registered<D> {
    fn registration(&self) -> &Registration<D> {
        // SAFETY: the allocation is freed only by a sweep after this handle's
        // Drop retired it: it is alive while `self` is.
        unsafe { self.registration.as_ref() }
    }

    /// The driver value, e.g. to read what it recorded.
    pub fn driver(&self) -> &D {
        &self.registration().driver
    }

    /// Number of devices bound to the driver now.
    pub fn bound_devices(&self) -> usize {
        self.registration().header.bound.load(Ordering::Acquire)
    }

    /// The addresses of the devices bound to the driver now.
    pub fn devices(&self) -> Vec<PciAddress> {
        let devices = self.registration().devices.lock();
        let devices = devices.unwrap_or_else(PoisonError::into_inner);
        devices.iter().map(|(a, _)| *a).collect()
    }

    /// Runs `f` with the state the driver's probe returned for the device at
    /// `address`; `None` when no such device is bound. The state is locked
    /// meanwhile: a probe or remove of any of this driver's devices waits.
    pub fn with_device<R>(
        &self,
        address: PciAddress,
        f: impl FnOnce(&mut D::Device) -> R,
    ) -> Option<R> {
        let mut devices = self
            .registration()
            .devices
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        devices
            .iter_mut()
            .find(|(a, _)| *a == address)
            .map(|(_, state)| f(state))
    }

    /// The driver's name, as registered with DPDK.
    pub fn name(&self) -> &str {
        self.registration().header.name.to_str().unwrap_or_default()
    }
}

impl<D: PciDriver> Drop for Registered<D> {
    fn drop(&mut self) {
        let header = self.registration.cast::<Header>();
        // SAFETY: the header starts a live registration (freed only once the
        // retired list, which it joins below, gives it up).
        unsafe { header.as_ref() }
            .retired
            .store(true, Ordering::Release);
        // SAFETY: this handle owned the registration and gives it up here; the
        // two functions are the ones for a `Header`, and the driver is `Send +
        // Sync`, so freeing it on another thread is allowed.
        unsafe {
            retire(Retiree {
                ptr: header.cast(),
                unlist: unregister_if_listed,
                free: free_retired,
            })
        };
    }
}

/// Takes a retired registration off DPDK's driver list (once) and says whether
/// it can be freed: no device is bound to it any more.
///
/// # Safety
/// `ptr` starts a live, retired `Registration`, and this thread holds the bus
/// lock (the `Retiree` contract of `bus_lock`).
unsafe fn unregister_if_listed(ptr: NonNull<()>) -> bool {
    // SAFETY: live, per the contract; shared access only.
    let h = unsafe { ptr.cast::<Header>().as_ref() };
    if h.registered.swap(false, Ordering::AcqRel) {
        // SAFETY: registered by `register_raw`; the bus lock keeps every other
        // DPDK call that could walk the driver list out until we return. Bound
        // devices keep their pointer to it (DPDK's remove path reads the
        // device's driver, not the list), so the allocation stays until they go.
        unsafe { sdk::rte_pci_unregister(h.raw.get()) };
    }
    // A device can only be bound by a DPDK call made under the bus lock, which
    // is held: the count cannot grow after this read.
    h.bound.load(Ordering::Acquire) == 0
}

/// Releases the name of a retired registration and frees it.
///
/// # Safety
/// `ptr` starts a `Registration` that is off DPDK's list, has no device bound
/// and is owned by the caller alone.
unsafe fn free_retired(ptr: NonNull<()>) {
    let header = ptr.cast::<Header>();
    let free = {
        // SAFETY: live and owned by the caller, per the contract.
        let h = unsafe { header.as_ref() };
        release_name(h.name.to_str().unwrap_or_default());
        h.free
    };
    // SAFETY: `free` is the function `new_registration` made for its type,
    // and nothing uses the registration any more.
    unsafe { free(header) };
}

fn release_name(name: &str) {
    if let Some(names) = NAMES
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .as_mut()
    {
        names.remove(name);
    }
}

/// Frees a `Registration<D>` made by `register_raw`.
///
/// # Safety
/// `header` comes from `Box::into_raw` of a `Registration<D>` that nothing uses.
pub(super) unsafe fn free_registration<D: PciDriver>(header: NonNull<Header>) {
    // SAFETY: per the contract; the header is the first field (repr(C)), and
    // the pointer carries the provenance of the whole allocation.
    drop(unsafe { Box::from_raw(header.cast::<Registration<D>>().as_ptr()) });
}

/// Registers `driver` on DPDK's PCI bus before the EAL starts, so that the
/// start-up scan matches it.
pub fn register<D: PciDriver>(
    name: &str,
    ids: &[PciIdPattern],
    flags: DriverFlags,
    driver: D,
) -> Result<Registered<D>, RegisterError> {
    // Checked here without the bus lock too: from inside a callback of the
    // start-up probe (this thread holds the lock) this must fail, not wait.
    if eal_started() {
        return Err(RegisterError::BusAlreadyProbed(name.to_owned()));
    }
    register_raw(name, ids, flags, driver, true)
}

impl Eal {
    /// Registers `driver` while the EAL runs (hot-plug): devices already on the
    /// bus are matched on the next [`Eal::probe`].
    pub fn register_driver<D: PciDriver>(
        &mut self,
        name: &str,
        ids: &[PciIdPattern],
        flags: DriverFlags,
        driver: D,
    ) -> Result<Registered<D>, RegisterError> {
        register_raw(name, ids, flags, driver, false)
    }
}

fn register_raw<D: PciDriver>(
    name: &str,
    ids: &[PciIdPattern],
    flags: DriverFlags,
    driver: D,
    before_init: bool,
) -> Result<Registered<D>, RegisterError> {
    let c_name = CString::new(name)
        .ok()
        .filter(|n| !n.as_bytes().is_empty())
        .ok_or_else(|| RegisterError::BadName(name.to_owned()))?;
    if ids.is_empty() {
        return Err(RegisterError::EmptyIdTable(name.to_owned()));
    }
    if let Some(index) = ids.iter().position(|id| id.vendor == 0) {
        return Err(RegisterError::VendorZero {
            name: name.to_owned(),
            index,
        });
    }
    // Held until DPDK has linked the driver in: no DPDK call runs meanwhile.
    let _bus = lock_bus();
    if before_init && eal_started() {
        // Another thread started the EAL since the check in `register`.
        return Err(RegisterError::BusAlreadyProbed(name.to_owned()));
    }
    {
        let mut names = NAMES.lock().unwrap_or_else(PoisonError::into_inner);
        if !names
            .get_or_insert_with(HashSet::new)
            .insert(name.to_owned())
        {
            return Err(RegisterError::AlreadyRegistered(name.to_owned()));
        }
    }
    let registration = new_registration(c_name, ids, flags, driver);
    // The pointer is derived from the whole allocation (see `raw_driver`), so
    // the trampolines may cast it back to all of it.
    // SAFETY: the registration stays allocated, at this address, until a sweep
    // has unregistered it and no device is bound (module docs); DPDK links it
    // into the driver list, through the cell, with the bus lock held.
    unsafe { sdk::rte_pci_register(raw_driver(registration)) };
    Ok(Registered {
        registration,
        _owns: PhantomData,
    })
}

/// Builds a registration on the heap, owned by the caller from here on (freed
/// by `free_registration` through its header). Pure Rust: the unit tests use it
/// under Miri.
pub(super) fn new_registration<D: PciDriver>(
    name: CString,
    ids: &[PciIdPattern],
    flags: DriverFlags,
    driver: D,
) -> NonNull<Registration<D>> {
    let mut table: Vec<dpdk_sys::rte_pci_id> = ids
        .iter()
        .map(|id| dpdk_sys::rte_pci_id {
            class_id: id.class.map_or(ANY_CLASS, PciClass::code),
            vendor_id: id.vendor,
            device_id: id.device,
            subsystem_vendor_id: id.subsystem_vendor,
            subsystem_device_id: id.subsystem_device,
        })
        .collect();
    table.push(dpdk_sys::rte_pci_id::default()); // vendor 0 ends the table
                                                 // SAFETY: rte_pci_driver is a C struct of pointers, optional function
                                                 // pointers and integers, for which all-zero is the empty value.
    let mut raw: sdk::rte_pci_driver = unsafe { std::mem::zeroed() };
    raw.probe = Some(probe_trampoline::<D>);
    raw.remove = Some(remove_trampoline::<D>);
    raw.drv_flags = flags.bits();
    // The name's and the table's heap buffers do not move when the box is made.
    raw.driver.name = name.as_ptr();
    raw.id_table = table.as_ptr();
    let registration = Box::new(Registration {
        header: Header {
            raw: UnsafeCell::new(raw),
            name,
            ids: table,
            bound: AtomicUsize::new(0),
            registered: AtomicBool::new(true),
            retired: AtomicBool::new(false),
            free: free_registration::<D>,
        },
        driver,
        devices: Mutex::new(Vec::new()),
    });
    // SAFETY: Box::into_raw never returns NULL.
    unsafe { NonNull::new_unchecked(Box::into_raw(registration)) }
}

/// The `struct rte_pci_driver *` DPDK gets: a cast of the pointer to the whole
/// allocation, not a pointer made from a reference to the field, so that it
/// keeps the right to reach the whole registration when a trampoline casts it
/// back (`Registration`, `Header` are `repr(C)` with the driver first, and
/// `UnsafeCell` has the layout of its content).
pub(super) fn raw_driver<D: PciDriver>(
    registration: NonNull<Registration<D>>,
) -> *mut sdk::rte_pci_driver {
    registration.as_ptr().cast()
}
