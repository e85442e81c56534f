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
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

use dpdk_sys::pci_driver_sdk as sdk;

use crate::eal::{eal_started, Eal};
use crate::pci::bus::{lock_bus, try_lock_bus, BusGuard};
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

/// Registrations whose handle was dropped while they could not be freed (a
/// device still bound, or DPDK busy); see the module docs. Freed by
/// [`sweep_retired`].
static RETIRED: Mutex<Vec<Retired>> = Mutex::new(Vec::new());

/// A retired registration, owned by [`RETIRED`].
struct Retired(NonNull<Header>);

// SAFETY: a retired registration is only touched under the bus lock (by
// `sweep_retired`), from whichever thread holds it; its driver is `Send + Sync`.
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
    /// Frees the `Registration<D>` this header starts.
    free: unsafe fn(NonNull<Header>),
}

/// One heap allocation per registered driver (see the module docs for its life).
#[repr(C)]
struct Registration<D: PciDriver> {
    header: Header,
    driver: D,
}

/// A registered driver. Dropping it unregisters the driver and frees it when no
/// device is bound to it; otherwise that happens once its last device is
/// removed (see the module docs).
pub struct Registered<D: PciDriver> {
    registration: NonNull<Registration<D>>,
    _owns: PhantomData<Registration<D>>,
}

impl<D: PciDriver> Registered<D> {
    fn registration(&self) -> &Registration<D> {
        // SAFETY: the allocation is freed only by this handle's Drop or, after
        // it, by a sweep: it is alive while `self` is.
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
        // Never wait: this may run inside a driver callback, while this thread's
        // own DPDK call holds the lock.
        match try_lock_bus() {
            Some(bus) => {
                // SAFETY: the header starts a live registration that this handle
                // owned and gives up here; the bus lock is held.
                if !unsafe { try_free(header, &bus) } {
                    retire(header);
                }
                sweep_retired(&bus);
            }
            None => retire(header),
        }
    }
}

fn retire(header: NonNull<Header>) {
    RETIRED
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(Retired(header));
}

/// Frees the retired registrations that no device uses any more. Called with the
/// bus lock held, after DPDK calls that may have removed devices.
pub(crate) fn sweep_retired(bus: &BusGuard) {
    let mut retired = RETIRED.lock().unwrap_or_else(PoisonError::into_inner);
    // SAFETY: every entry is a live registration owned by the list; the bus lock
    // is held.
    retired.retain(|entry| !unsafe { try_free(entry.0, bus) });
}

/// Unregisters and frees the registration if no device is bound to it; returns
/// whether it did.
///
/// # Safety
/// `header` starts a live `Registration` that the caller owns (its handle is
/// being dropped, or it is retired) and gives up when this returns true.
unsafe fn try_free(header: NonNull<Header>, _bus: &BusGuard) -> bool {
    // SAFETY: live, per the contract; only shared access until the free below.
    let h = unsafe { header.as_ref() };
    if h.bound.load(Ordering::Acquire) != 0 {
        return false;
    }
    if h.registered.swap(false, Ordering::AcqRel) {
        // SAFETY: registered by `register_raw`, not bound to any device, and the
        // bus lock keeps every other DPDK call that could be walking the driver
        // list or running a callback out until we return.
        unsafe { sdk::rte_pci_unregister(h.raw.get()) };
    }
    // DPDK holds no pointer to it any more: off the driver list, no device bound,
    // no DPDK call in flight (bus lock).
    if let Some(names) = NAMES
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .as_mut()
    {
        names.remove(h.name.to_str().unwrap_or_default());
    }
    let free = h.free;
    // SAFETY: the caller gives the registration up; `free` is the function made
    // for its type by `register_raw`, and `h` is not used after this.
    unsafe { free(header) };
    true
}

/// Frees a `Registration<D>` made by `register_raw`.
///
/// # Safety
/// `header` comes from `Box::into_raw` of a `Registration<D>` that nothing uses.
unsafe fn free_registration<D: PciDriver>(header: NonNull<Header>) {
    // SAFETY: per the contract; the header is the first field (repr(C)).
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
    raw.driver.name = c_name.as_ptr();
    raw.id_table = table.as_ptr();
    let registration = Box::new(Registration {
        header: Header {
            raw: UnsafeCell::new(raw),
            name: c_name,
            ids: table,
            bound: AtomicUsize::new(0),
            registered: AtomicBool::new(true),
            free: free_registration::<D>,
        },
        driver,
    });
    // Owned by the returned handle from here on, freed by `try_free`.
    let registration = NonNull::from(Box::leak(registration));
    // SAFETY: the registration stays allocated, at this address, until
    // `try_free` has unregistered it (module docs); DPDK links the structure into
    // the bus's driver list, through the cell, with the bus lock held.
    unsafe { sdk::rte_pci_register(registration.as_ref().header.raw.get()) };
    Ok(Registered {
        registration,
        _owns: PhantomData,
    })
}

/// Logs through DPDK's log, as DPDK's own drivers do.
fn log_error(message: &str) {
    if let Ok(text) = CString::new(message) {
        // SAFETY: "%s\n" with one valid C string argument.
        unsafe { dpdk_sys::rte_log(dpdk_sys::RTE_LOG_ERR, 0, c"%s\n".as_ptr(), text.as_ptr()) };
    }
}

unsafe extern "C" fn probe_trampoline<D: PciDriver>(
    drv: *mut sdk::rte_pci_driver,
    dev: *mut sdk::rte_pci_device,
) -> c_int {
    // SAFETY: DPDK calls this with the rte_pci_driver we registered, which starts
    // a Registration<D> that stays allocated while DPDK can call it (module
    // docs), and a live device.
    let (reg, device) = unsafe { (&*drv.cast::<Registration<D>>(), ProbedDevice::from_raw(dev)) };
    let name = reg.header.name.to_string_lossy();
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
            -failure.errno.abs().max(1)
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
    /// `None` when DPDK did not map it. 64-bit targets only, like every mapping.
    #[cfg(target_pointer_width = "64")]
    pub fn bar(&self, index: u8) -> Option<crate::vfio::MappedRegion<'_>> {
        let resource = self.device().mem_resource.get(usize::from(index))?;
        let base = std::ptr::NonNull::new(resource.addr.cast::<u8>())?;
        if resource.len == 0 {
            return None;
        }
        let info = crate::vfio::RegionInfo {
            index: RegionIndex::Bar(index),
            offset: 0,
            size: resource.len,
            flags: crate::vfio::RegionFlags {
                readable: true,
                writable: true,
                mmap: true,
            },
            sparse_mmap: None,
            msix_mappable: false,
            caps: Vec::new(),
        };
        // SAFETY: DPDK keeps the BAR mapped, read-write, while the device is
        // probed; the view borrows this callback's device.
        Some(unsafe { crate::vfio::MappedRegion::borrowed(base, info) })
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
