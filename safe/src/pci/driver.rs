//! PCI drivers written in Rust, registered on DPDK's PCI bus.
//!
//! A driver is a value implementing [`PciDriver`], registered with an ID table
//! and flags by [`register`] before the EAL starts (or [`Eal::register_driver`]
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
//!   [`Eal::probe`], [`Eal::remove`], or the next drop of a handle). Whatever is
//!   still retired when the process exits stays reachable from that list; nothing
//!   is lost, and DPDK never calls into freed memory.

use std::cell::UnsafeCell;
use std::collections::HashSet;
use std::ffi::{c_int, CStr, CString};
use std::marker::PhantomData;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

use dpdk_sys::pci_driver_sdk as sdk;

use crate::eal::{eal_started, Eal};
use crate::pci::bus::{lock_bus, this_thread_holds_bus, try_lock_bus, BusGuard};
use crate::pci::dpdk_bar::{DpdkBar, DpdkBarError};
use crate::pci::{PciAddress, PciIds};
use crate::vfio::access::{AccessError, Register, Registers};
use crate::vfio::region::RegionIndex;

/// `PCI_ANY_ID`: matches any vendor, device or subsystem ID.
pub const ANY_ID: u16 = 0xffff;
/// `RTE_CLASS_ANY_ID`: matches any class code.
pub const ANY_CLASS: u32 = 0x00ff_ffff;

/// One entry of a driver's ID table. Fields left at their wildcards match anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PciId {
    pub vendor: u16,
    pub device: u16,
    pub subsystem_vendor: u16,
    pub subsystem_device: u16,
    pub class: u32,
}

impl PciId {
    /// Matches `vendor:device` with any subsystem and class.
    pub const fn new(vendor: u16, device: u16) -> Self {
        PciId {
            vendor,
            device,
            subsystem_vendor: ANY_ID,
            subsystem_device: ANY_ID,
            class: ANY_CLASS,
        }
    }

    pub const fn subsystem(mut self, vendor: u16, device: u16) -> Self {
        self.subsystem_vendor = vendor;
        self.subsystem_device = device;
        self
    }

    pub const fn class(mut self, class: u32) -> Self {
        self.class = class;
        self
    }
}

/// `RTE_PCI_DRV_*` flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DriverFlags(u32);

impl DriverFlags {
    /// DPDK maps the device's BARs (through VFIO) before probe.
    pub const NEED_MAPPING: DriverFlags = DriverFlags(sdk::RTE_PCI_DRV_NEED_MAPPING);
    /// Map prefetchable BARs write-combined.
    pub const WC_ACTIVATE: DriverFlags = DriverFlags(sdk::RTE_PCI_DRV_WC_ACTIVATE);
    /// The driver handles link-state-change interrupts.
    pub const INTR_LSC: DriverFlags = DriverFlags(sdk::RTE_PCI_DRV_INTR_LSC);
    /// The driver handles device-removal interrupts.
    pub const INTR_RMV: DriverFlags = DriverFlags(sdk::RTE_PCI_DRV_INTR_RMV);

    pub const fn empty() -> Self {
        DriverFlags(0)
    }

    pub const fn union(self, other: DriverFlags) -> Self {
        DriverFlags(self.0 | other.0)
    }

    pub const fn bits(self) -> u32 {
        self.0
    }
}

/// Why a probe failed; DPDK receives it as a negative errno and logs it.
#[derive(Debug, thiserror::Error)]
#[error("{message} (errno {errno})")]
pub struct ProbeFailure {
    pub errno: i32,
    pub message: String,
}

impl ProbeFailure {
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
/// [`Eal::probe`]), hence `Send + Sync`.
pub trait PciDriver: Send + Sync + 'static {
    /// Takes the device, or refuses it with a [`ProbeFailure`].
    fn probe(&self, device: &ProbedDevice<'_>) -> Result<(), ProbeFailure>;
    /// Lets the device go (`rte_dev_remove`, or EAL cleanup).
    fn remove(&self, device: &ProbedDevice<'_>);
}

/// Why a driver could not be registered.
#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    #[error("driver {0:?}: the ID table is empty")]
    EmptyIdTable(String),
    #[error("driver {name:?}: ID table entry {index} has vendor 0, which ends DPDK's table early")]
    VendorZero { name: String, index: usize },
    #[error("driver name {0:?} is empty or contains a NUL byte")]
    BadName(String),
    #[error("a driver named {0:?} is already registered")]
    AlreadyRegistered(String),
    #[error(
        "driver {0:?}: the EAL has started and its bus probe is over; register before \
         EalBuilder::init, or use Eal::register_driver and then Eal::probe"
    )]
    BusAlreadyProbed(String),
}

/// Names of the drivers registered by this process; a name is released when
/// its registration is freed.
static NAMES: Mutex<Option<HashSet<String>>> = Mutex::new(None);

/// Registrations whose handle was dropped; see the module docs. Unregistered
/// from DPDK's driver list and freed by [`sweep_retired`].
static RETIRED: Mutex<Vec<Retired>> = Mutex::new(Vec::new());

/// A retired registration, owned by [`RETIRED`] until a sweep frees it.
struct Retired(NonNull<Header>);

// SAFETY: a retired registration's header is only read (atomics, the name) or
// handed to DPDK under the bus lock, and its driver is `Send + Sync`; the
// allocation belongs to the process, not to the thread that retired it.
unsafe impl Send for Retired {}

/// The part of a registration that does not depend on the driver's type. DPDK's
/// `rte_pci_driver` comes first, so DPDK's `struct rte_pci_driver *` is also a
/// pointer to the header and to the whole [`Registration`].
#[repr(C)]
struct Header {
    /// Written by DPDK (list links, bus pointer) while registered, hence the cell.
    raw: UnsafeCell<sdk::rte_pci_driver>,
    name: CString,
    ids: Vec<dpdk_sys::rte_pci_id>,
    /// Devices DPDK probed with this driver and has not removed yet.
    bound: AtomicUsize,
    /// On DPDK's driver list (from `rte_pci_register` to `rte_pci_unregister`).
    registered: AtomicBool,
    /// The handle was dropped: the probe trampoline refuses new devices until
    /// a sweep takes the driver off DPDK's list.
    retired: AtomicBool,
    /// Frees the `Registration<D>` this header starts.
    free: unsafe fn(NonNull<Header>),
}

/// One heap allocation per registered driver (see the module docs for its life).
#[repr(C)]
struct Registration<D: PciDriver> {
    header: Header,
    driver: D,
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

    pub fn name(&self) -> &str {
        self.registration().header.name.to_str().unwrap_or_default()
    }
}

impl<D: PciDriver> Drop for Registered<D> {
    fn drop(&mut self) {
        let header = self.registration.cast::<Header>();
        // SAFETY: the header starts a live registration (freed only by a sweep
        // of the retired list, which it joins below).
        unsafe { header.as_ref() }
            .retired
            .store(true, Ordering::Release);
        RETIRED
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Retired(header));
        // Never wait: this may run inside a driver callback, while this thread's
        // own DPDK call holds the lock; that call's sweep then does the work.
        if let Some(bus) = try_lock_bus() {
            sweep_retired(bus);
        }
    }
}

/// Takes every retired registration off DPDK's driver list, then releases the
/// bus lock and frees those that no device uses any more.
///
/// The frees run the user's `Drop` with no lock of this crate held, so a `Drop`
/// may drop or register other drivers; a `Drop` that panics is reported after
/// every other freeable registration was freed, and nothing is freed twice (an
/// entry leaves the list before it is freed).
pub(crate) fn sweep_retired(bus: BusGuard) {
    let freeable: Vec<Retired> = {
        let mut retired = RETIRED.lock().unwrap_or_else(PoisonError::into_inner);
        let (free, keep): (Vec<Retired>, Vec<Retired>) = retired.drain(..).partition(|entry| {
            // SAFETY: every entry is a live registration owned by the list;
            // the bus lock is held, so no DPDK call is walking the driver
            // list or running a callback.
            unsafe { unregister_if_listed(entry.0, &bus) }
        });
        *retired = keep;
        free
    };
    drop(bus);
    let mut first_panic = None;
    for entry in freeable {
        let free = {
            // SAFETY: the entry left the list above and is owned here alone.
            let h = unsafe { entry.0.as_ref() };
            release_name(h.name.to_str().unwrap_or_default());
            h.free
        };
        // SAFETY: off DPDK's driver list, no device bound, owned by this loop
        // alone; `free` is the function `register_raw` made for its type.
        let freed = catch_unwind(AssertUnwindSafe(|| unsafe { free(entry.0) }));
        if let Err(payload) = freed {
            first_panic.get_or_insert(payload);
        }
    }
    if let Some(payload) = first_panic {
        resume_unwind(payload);
    }
}

/// Takes a retired registration off DPDK's driver list (once) and says whether
/// it can be freed: no device is bound to it any more.
///
/// # Safety
/// `header` starts a live, retired `Registration`; `_bus` proves the bus lock
/// is held by this thread.
unsafe fn unregister_if_listed(header: NonNull<Header>, _bus: &BusGuard) -> bool {
    // SAFETY: live, per the contract; shared access only.
    let h = unsafe { header.as_ref() };
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
unsafe fn free_registration<D: PciDriver>(header: NonNull<Header>) {
    // SAFETY: per the contract; the header is the first field (repr(C)), and
    // the pointer carries the provenance of the whole allocation.
    drop(unsafe { Box::from_raw(header.cast::<Registration<D>>().as_ptr()) });
}

/// Registers `driver` on DPDK's PCI bus before the EAL starts, so that the
/// start-up scan matches it.
pub fn register<D: PciDriver>(
    name: &str,
    ids: &[PciId],
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
        ids: &[PciId],
        flags: DriverFlags,
        driver: D,
    ) -> Result<Registered<D>, RegisterError> {
        register_raw(name, ids, flags, driver, false)
    }
}

fn register_raw<D: PciDriver>(
    name: &str,
    ids: &[PciId],
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
fn new_registration<D: PciDriver>(
    name: CString,
    ids: &[PciId],
    flags: DriverFlags,
    driver: D,
) -> NonNull<Registration<D>> {
    let mut table: Vec<dpdk_sys::rte_pci_id> = ids
        .iter()
        .map(|id| dpdk_sys::rte_pci_id {
            class_id: id.class,
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
    });
    // SAFETY: Box::into_raw never returns NULL.
    unsafe { NonNull::new_unchecked(Box::into_raw(registration)) }
}

/// The `struct rte_pci_driver *` DPDK gets: a cast of the pointer to the whole
/// allocation, not a pointer made from a reference to the field, so that it
/// keeps the right to reach the whole registration when a trampoline casts it
/// back (`Registration`, `Header` are `repr(C)` with the driver first, and
/// `UnsafeCell` has the layout of its content).
fn raw_driver<D: PciDriver>(registration: NonNull<Registration<D>>) -> *mut sdk::rte_pci_driver {
    registration.as_ptr().cast()
}

/// What the probe trampoline returns to DPDK for a refusal: a negative errno,
/// whatever the driver put in its [`ProbeFailure`] (0, negative, `i32::MIN`).
fn probe_failure_code(errno: i32) -> c_int {
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
const NOT_SUPPORTED: c_int = 1;

unsafe extern "C" fn probe_trampoline<D: PciDriver>(
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
        Ok(Ok(())) => {
            reg.header.bound.fetch_add(1, Ordering::AcqRel);
            0
        }
        Ok(Err(failure)) => {
            log_error(&format!(
                "{name}: probe of {} failed: {failure}",
                device.address()
            ));
            probe_failure_code(failure.errno)
        }
        Err(_) => {
            log_error(&format!("{name}: probe of {} panicked", device.address()));
            -libc::EIO
        }
    }
}

unsafe extern "C" fn remove_trampoline<D: PciDriver>(dev: *mut sdk::rte_pci_device) -> c_int {
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
    if catch_unwind(AssertUnwindSafe(|| reg.driver.remove(&device))).is_err() {
        log_error(&format!(
            "{}: remove of {} panicked",
            reg.header.name.to_string_lossy(),
            device.address()
        ));
    }
    reg.header.bound.fetch_sub(1, Ordering::AcqRel);
    0
}

/// The device DPDK hands a driver's probe and remove callbacks.
pub struct ProbedDevice<'a> {
    raw: *mut sdk::rte_pci_device,
    _callback: PhantomData<&'a sdk::rte_pci_device>,
}

impl ProbedDevice<'_> {
    /// # Safety
    /// `raw` is a live device for the duration of the callback.
    unsafe fn from_raw(raw: *mut sdk::rte_pci_device) -> Self {
        ProbedDevice {
            raw,
            _callback: PhantomData,
        }
    }

    fn device(&self) -> &sdk::rte_pci_device {
        // SAFETY: live for the callback ('a); DPDK does not change it meanwhile.
        unsafe { &*self.raw }
    }

    /// Whether DPDK opened the device's file (VFIO or UIO), which its config
    /// and BAR calls go through: only for drivers with `NEED_MAPPING`. Without
    /// it the interrupt handle's fd is still 0 and DPDK would use stdin.
    pub(crate) fn opened_by_dpdk(&self) -> bool {
        let driver = self.device().driver;
        // SAFETY: DPDK sets `driver` to the live driver before calling its probe
        // and keeps it until remove; NULL is checked first.
        !driver.is_null() && unsafe { (*driver).drv_flags } & sdk::RTE_PCI_DRV_NEED_MAPPING != 0
    }

    pub fn address(&self) -> PciAddress {
        let a = self.device().addr;
        PciAddress::new(a.domain, a.bus, a.devid, a.function)
    }

    pub fn ids(&self) -> PciIds {
        let id = self.device().id;
        PciIds {
            vendor: id.vendor_id,
            device: id.device_id,
            subsystem_vendor: id.subsystem_vendor_id,
            subsystem_device: id.subsystem_device_id,
        }
    }

    pub fn class(&self) -> u32 {
        self.device().id.class_id
    }

    /// NUMA node; `None` when unknown.
    pub fn numa_node(&self) -> Option<u32> {
        u32::try_from(self.device().device.numa_node).ok()
    }

    /// DPDK's name of the device.
    pub fn name(&self) -> String {
        // SAFETY: `name` is a NUL-terminated array inside the device.
        unsafe { CStr::from_ptr(self.device().name.as_ptr()) }
            .to_string_lossy()
            .into_owned()
    }

    /// Whether DPDK mapped BAR `index` (drivers with [`DriverFlags::NEED_MAPPING`]).
    pub fn bar_mapped(&self, index: usize) -> bool {
        self.device()
            .mem_resource
            .get(index)
            .is_some_and(|r| !r.addr.is_null())
    }

    /// Length of BAR `index` as DPDK recorded it (0 for none).
    pub fn bar_len(&self, index: usize) -> u64 {
        self.device().mem_resource.get(index).map_or(0, |r| r.len)
    }

    /// BAR `index` as DPDK mapped it for a driver with [`DriverFlags::NEED_MAPPING`]:
    /// the same mapped accessor as [`VfioDevice::map_bar`](crate::vfio::VfioDevice::map_bar).
    /// 64-bit targets only, like every mapping.
    ///
    /// `None` unless DPDK mapped the BAR for this driver: the driver has
    /// `NEED_MAPPING` (DPDK does not clear the address of an earlier mapping
    /// when it unmaps, so without it the address may be stale), the device is
    /// bound to vfio-pci, and the kernel reports the BAR as mappable on DPDK's
    /// own device file (DPDK skips the others and leaves their address as it
    /// was). The view covers only what DPDK really mapped, built from that
    /// file's region info: the sparse areas when the kernel lists them (24.11
    /// maps those over an inaccessible reservation), minus the pages of the
    /// MSI-X table unless the kernel says it may be mapped (DPDK leaves them
    /// out). Accesses elsewhere are [`AccessError::NotMapped`], not a fault.
    #[cfg(target_pointer_width = "64")]
    pub fn bar(&self, index: u8) -> Option<crate::vfio::MappedRegion<'_>> {
        let region = RegionIndex::bar(u32::from(index)).ok()?;
        let device = self.device();
        if !self.opened_by_dpdk() {
            return None;
        }
        let resource = device.mem_resource.get(usize::from(index))?;
        let base = std::ptr::NonNull::new(resource.addr.cast::<u8>())?;
        let fd = crate::pci::dpdk_bar::vfio_device_file(device)?;
        let info = crate::vfio::region::region_info(fd, region).ok()?;
        // What DPDK mapped: `info.size` bytes at `addr`, for a mappable BAR of
        // the size its scan recorded.
        if !info.flags.mmap || info.size == 0 || info.size != resource.len {
            return None;
        }
        let exclude = crate::vfio::msix::unmappable_ranges(fd, &info).ok()?;
        let ranges = crate::vfio::mapping::mappable_ranges(&info, &exclude).ok()?;
        // DPDK mapped afresh for this probe (NEED_MAPPING), read-write, the
        // ranges its pci_vfio_mmap_bar / pci_vfio_sparse_mmap_bar derive from
        // this same region info, and unmaps only on removal.
        // SAFETY: those ranges at `base` stay mapped read-write while this
        // callback's borrow lives (a removal cannot happen before it ends).
        Some(unsafe { crate::vfio::MappedRegion::view(info, base, ranges) })
    }

    /// BAR `index` through DPDK, on every target and whether or not DPDK mapped
    /// it: `rte_pci_mmio_read`/`write` where DPDK has them (23.07+), the VFIO
    /// device file with `pread64`/`pwrite64` otherwise (see [`DpdkBar`]).
    pub fn bar_registers(&self, index: u8) -> Result<DpdkBar<'_>, DpdkBarError> {
        // SAFETY: the device is live and unchanged for this callback, which the
        // returned value cannot outlive (it borrows self).
        unsafe {
            DpdkBar::new(self.device(), index, self.opened_by_dpdk(), || {
                self.address().to_string()
            })
        }
    }

    /// Config space through DPDK (`rte_pci_read_config`), on every target.
    pub fn config(&self) -> DpdkConfig<'_> {
        DpdkConfig { device: self }
    }
}

/// Config space of a probed device, through `rte_pci_read_config` and
/// `rte_pci_write_config` (whose `off_t` is 64 bits wide on every target).
pub struct DpdkConfig<'a> {
    device: &'a ProbedDevice<'a>,
}

/// PCI Express extended config space.
const CONFIG_SIZE: u64 = 4096;

impl DpdkConfig<'_> {
    fn span(
        &self,
        op: &'static str,
        offset: u64,
        width: u64,
    ) -> Result<dpdk_sys::off_t, AccessError> {
        let region = RegionIndex::Config;
        if offset
            .checked_add(width)
            .is_none_or(|end| end > CONFIG_SIZE)
        {
            return Err(AccessError::OutOfBounds {
                region,
                offset,
                width,
                size: CONFIG_SIZE,
            });
        }
        if offset % width != 0 {
            return Err(AccessError::Unaligned {
                region,
                offset,
                width,
            });
        }
        if !self.device.opened_by_dpdk() {
            return Err(AccessError::Io {
                region,
                op,
                offset,
                source: std::io::Error::other(
                    "DPDK opened no device file for it: register the driver with \
                     DriverFlags::NEED_MAPPING to reach config space through DPDK",
                ),
            });
        }
        dpdk_sys::off_t::try_from(offset)
            .map_err(|_| AccessError::OffsetOverflow { region, offset })
    }
}

/// DPDK's config calls return the bytes transferred; anything short is an error.
fn whole(op: &'static str, offset: u64, done: i32, wanted: usize) -> Result<(), AccessError> {
    if usize::try_from(done) == Ok(wanted) {
        return Ok(());
    }
    let done = usize::try_from(done).unwrap_or(0);
    Err(AccessError::Short {
        region: RegionIndex::Config,
        op,
        offset,
        done,
        wanted,
    })
}

impl Registers for DpdkConfig<'_> {
    fn read<T: Register>(&self, offset: u64) -> Result<T, AccessError> {
        let at = self.span("read", offset, T::WIDTH as u64)?;
        let mut buf = [0u8; 8];
        // SAFETY: the device is live for the callback; buf holds T::WIDTH bytes.
        let n = unsafe {
            dpdk_sys::rte_pci_read_config(
                self.device.raw.cast(),
                buf.as_mut_ptr().cast(),
                T::WIDTH,
                at,
            )
        };
        whole("read", offset, n, T::WIDTH)?;
        Ok(T::from_le_slice(&buf[..T::WIDTH]))
    }

    fn write<T: Register>(&self, offset: u64, value: T) -> Result<(), AccessError> {
        let at = self.span("write", offset, T::WIDTH as u64)?;
        let mut buf = [0u8; 8];
        value.write_le(&mut buf[..T::WIDTH]);
        // SAFETY: the device is live for the callback; buf holds T::WIDTH bytes.
        let n = unsafe {
            dpdk_sys::rte_pci_write_config(
                self.device.raw.cast(),
                buf.as_ptr().cast(),
                T::WIDTH,
                at,
            )
        };
        whole("write", offset, n, T::WIDTH)
    }
}

#[cfg(test)]
mod tests {
    //! The registration's life in pure Rust, as DPDK would drive it: these
    //! tests call no C, so tools/miri.sh runs them under Miri (Stacked Borrows),
    //! which checks that the pointer DPDK gets may reach the whole registration.

    use super::*;

    struct Counting(AtomicUsize);

    impl PciDriver for Counting {
        fn probe(&self, device: &ProbedDevice<'_>) -> Result<(), ProbeFailure> {
            self.0.fetch_add(1, Ordering::AcqRel);
            if device.ids().vendor == 0x1234 {
                Ok(())
            } else {
                Err(ProbeFailure::new(i32::MIN, "not ours"))
            }
        }
        fn remove(&self, _: &ProbedDevice<'_>) {
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
            &[PciId::new(0x1234, 0x11e8)],
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
        // SAFETY: as above.
        assert_eq!(
            unsafe { probe_trampoline::<Counting>(drv, &mut *other) },
            -libc::EIO
        );
        drop(bus);
        // SAFETY: the registration is live and was never handed to DPDK.
        let h = unsafe { reg.cast::<Header>().as_ref() };
        assert_eq!(h.bound.load(Ordering::Acquire), 0);
        // SAFETY: as above; read before the free.
        assert_eq!(
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
            &[PciId::new(0x1234, 0x11e8)],
            DriverFlags::empty(),
            Counting(AtomicUsize::new(0)),
        );
        let drv = raw_driver(reg);
        let mut dev = fake_device(0x1234);
        // No bus lock on this thread: as for another process's hotplug request.
        // SAFETY: live registration and device, as DPDK would pass them.
        assert_eq!(
            unsafe { probe_trampoline::<Counting>(drv, &mut *dev) },
            NOT_SUPPORTED
        );
        dev.driver = drv;
        // SAFETY: as above.
        assert_eq!(
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
        // SAFETY: as above.
        assert_eq!(
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
