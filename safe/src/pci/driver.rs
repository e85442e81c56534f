//! PCI drivers written in Rust, registered on DPDK's PCI bus.
//!
//! A driver is a value implementing [`PciDriver`], registered with an ID table
//! and flags by [`register`] before the EAL starts (or [`Eal::register_driver`]
//! for hot-plug afterwards). DPDK's scan matches it against devices, maps their
//! BARs through its own VFIO code when asked to ([`DriverFlags::NEED_MAPPING`]),
//! and calls [`PciDriver::probe`] and [`PciDriver::remove`] with a
//! [`ProbedDevice`]: address, IDs, NUMA node, config space and BARs.
//!
//! The registration (DPDK's `struct rte_pci_driver`, the ID table and the Rust
//! driver) is never freed: DPDK may call it until its last device is removed,
//! so it lives as long as the process. Dropping the [`Registered`] handle
//! unregisters the driver from the bus when no device is bound to it.

use std::collections::HashSet;
use std::ffi::{c_int, CStr, CString};
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use dpdk_sys::pci_driver_sdk as sdk;

use crate::eal::{eal_started, Eal};
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

/// Names of the drivers registered by this process.
static NAMES: Mutex<Option<HashSet<String>>> = Mutex::new(None);

/// What DPDK points at: `raw` first, so DPDK's `struct rte_pci_driver *` is
/// also a pointer to the whole registration.
#[repr(C)]
struct Registration<D: PciDriver> {
    raw: sdk::rte_pci_driver,
    name: CString,
    ids: Vec<dpdk_sys::rte_pci_id>,
    bound: AtomicUsize,
    registered: std::sync::atomic::AtomicBool,
    driver: D,
}

/// A registered driver. Dropping it unregisters the driver when no device is
/// bound to it; the registration itself lives on (see the module docs).
pub struct Registered<D: PciDriver> {
    registration: &'static Registration<D>,
}

impl<D: PciDriver> Registered<D> {
    /// The driver value, e.g. to read what it recorded.
    pub fn driver(&self) -> &D {
        &self.registration.driver
    }

    /// Number of devices bound to the driver now.
    pub fn bound_devices(&self) -> usize {
        self.registration.bound.load(Ordering::Acquire)
    }

    pub fn name(&self) -> &str {
        self.registration.name.to_str().unwrap_or_default()
    }
}

impl<D: PciDriver> Drop for Registered<D> {
    fn drop(&mut self) {
        let reg = self.registration;
        if reg.bound.load(Ordering::Acquire) == 0 && reg.registered.swap(false, Ordering::AcqRel) {
            // SAFETY: the driver was registered by `register_raw` and is unbound;
            // its memory stays valid forever, so a late lookup by DPDK is harmless.
            unsafe { sdk::rte_pci_unregister(std::ptr::from_ref(&reg.raw).cast_mut()) };
        }
    }
}

/// Registers `driver` on DPDK's PCI bus before the EAL starts, so that the
/// start-up scan matches it.
pub fn register<D: PciDriver>(
    name: &str,
    ids: &[PciId],
    flags: DriverFlags,
    driver: D,
) -> Result<Registered<D>, RegisterError> {
    if eal_started() {
        return Err(RegisterError::BusAlreadyProbed(name.to_owned()));
    }
    register_raw(name, ids, flags, driver)
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
        register_raw(name, ids, flags, driver)
    }
}

fn register_raw<D: PciDriver>(
    name: &str,
    ids: &[PciId],
    flags: DriverFlags,
    driver: D,
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
    {
        let mut names = NAMES.lock().unwrap_or_else(|e| e.into_inner());
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
    let registration = Box::leak(Box::new(Registration {
        raw,
        name: c_name,
        ids: table,
        bound: AtomicUsize::new(0),
        registered: std::sync::atomic::AtomicBool::new(true),
        driver,
    }));
    // The name and table live in the leaked registration: their heap buffers
    // never move again.
    registration.raw.driver.name = registration.name.as_ptr();
    registration.raw.id_table = registration.ids.as_ptr();
    // SAFETY: the driver structure, its name and ID table are 'static; DPDK
    // links it into the PCI bus's driver list.
    unsafe { sdk::rte_pci_register(&mut registration.raw) };
    Ok(Registered { registration })
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
    // SAFETY: DPDK calls this with the rte_pci_driver we registered, which is the
    // first field of a leaked Registration<D>, and a live device.
    let (reg, device) = unsafe { (&*drv.cast::<Registration<D>>(), ProbedDevice::from_raw(dev)) };
    let name = reg.name.to_string_lossy();
    match catch_unwind(AssertUnwindSafe(|| reg.driver.probe(&device))) {
        Ok(Ok(())) => {
            reg.bound.fetch_add(1, Ordering::AcqRel);
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
    // field points at our registration's rte_pci_driver.
    let (reg, device) = unsafe {
        (
            &*(*dev).driver.cast::<Registration<D>>(),
            ProbedDevice::from_raw(dev),
        )
    };
    if catch_unwind(AssertUnwindSafe(|| reg.driver.remove(&device))).is_err() {
        log_error(&format!(
            "{}: remove of {} panicked",
            reg.name.to_string_lossy(),
            device.address()
        ));
    }
    reg.bound.fetch_sub(1, Ordering::AcqRel);
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

    pub fn address(&self) -> PciAddress {
        let a = self.device().addr;
        PciAddress::new(a.domain, a.bus, a.devid, a.function).unwrap_or_else(|_| {
            // DPDK parsed the address from sysfs; out-of-range parts cannot occur.
            PciAddress::new(a.domain, a.bus, 0, 0).expect("device 0 function 0 is valid")
        })
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
        unsafe { DpdkBar::new(self.device(), index, || self.address().to_string()) }
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
    fn span(&self, offset: u64, width: u64) -> Result<dpdk_sys::off_t, AccessError> {
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
        let at = self.span(offset, T::WIDTH as u64)?;
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
        let at = self.span(offset, T::WIDTH as u64)?;
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
