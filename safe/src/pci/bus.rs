//! DPDK's PCI bus: the devices its scan found, and probing or removing them.
//!
//! DPDK's public headers keep `struct rte_pci_device` opaque (its definition is in
//! the driver SDK, which distributions do not install), so the bus gives each
//! device's name, NUMA node and driver through `rte_dev_*` functions, and the rest
//! (IDs, class, kernel driver, IOMMU group, BARs) comes from the same sysfs
//! directory DPDK's scan read.

use std::ffi::{CStr, CString};
use std::marker::PhantomData;
use std::ops::Deref;
use std::path::{Path, PathBuf};

use crate::bus_lock::lock_bus;
use crate::eal::Eal;
use crate::errno::{last_rte_errno, DpdkErrno};
use crate::pci::address::PciAddress;
use crate::pci::sysfs::{
    device_dir, list_device_dirs, sysfs_pci_root, SysfsDevice, SysfsError, SysfsErrorKind,
};

/// A PCI device on DPDK's bus, as DPDK and sysfs describe it.
///
/// What sysfs says ([`SysfsDevice`]: IDs, class, kernel driver, IOMMU group,
/// BARs) is reached through `Deref` (`device.address`, `device.ids`...), with
/// the address and NUMA node as DPDK's bus reports them; what only DPDK knows
/// is in the fields here.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PciDevice {
    /// The sysfs description, with DPDK's address and NUMA node for the device.
    pub sysfs: SysfsDevice,
    /// Name of the DPDK driver attached by a probe, if any.
    pub dpdk_driver: Option<String>,
    /// The sysfs directory the details were read from: the one DPDK's scan
    /// read for this address, whose name may differ from the address's text
    /// (see [`scan_address`](crate::parse::scan_address)).
    pub sysfs_path: PathBuf,
}

impl Deref for PciDevice {
    type Target = SysfsDevice;
    fn deref(&self) -> &SysfsDevice {
        &self.sysfs
    }
}

/// Why enumeration, probe or remove failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeviceError {
    /// DPDK's bus has no device at this address (`ENODEV`, or not in its device list).
    #[error("no PCI device {0} on DPDK's bus (not scanned, not allowlisted, or no kernel driver)")]
    NoSuchDevice(PciAddress),
    /// No DPDK driver's ID table matches the device (`ENOTSUP`).
    #[error("no DPDK driver matches PCI device {0}")]
    NoDriver(PciAddress),
    /// The device already has a driver attached (`EEXIST`).
    #[error("PCI device {0} is already probed")]
    AlreadyProbed(PciAddress),
    /// The device has no driver attached, so it cannot be removed.
    #[error("PCI device {0} has no DPDK driver attached, so there is nothing to remove")]
    NotProbed(PciAddress),
    /// DPDK's bus named a device with a string its own address parser
    /// refuses (DPDK names devices after their address, or after the
    /// allowlist entry that selected them, which that parser accepted).
    #[error("DPDK named a PCI device {name:?}, which is not a PCI address")]
    BadName {
        /// The name DPDK gave the device.
        name: String,
    },
    /// Probe returned a bare -1 because DPDK's rescan of the bus stopped at a sysfs device
    /// directory it cannot parse.
    #[error(
        "probe of PCI device {address} failed: DPDK rescans the whole PCI bus first and \
         gave up at a device directory it cannot parse ({culprit}); fix or remove that \
         directory, or start the EAL with an allowlist (EalBuilder::allow), which makes \
         DPDK skip every other device"
    )]
    BusScanFailed {
        /// The device that was to be probed.
        address: PciAddress,
        /// Why the offending directory does not parse (it names the directory).
        culprit: Box<SysfsError>,
    },
    /// DPDK returned -1 without setting an error code: a driver's callback failed.
    #[error(
        "{op} of PCI device {address} failed: DPDK returned -1 without an error code \
         (a driver's callback failed; DPDK's log says which and why)"
    )]
    FailedWithoutErrno {
        /// The operation: `"probe"` or `"remove"`.
        op: &'static str,
        /// The device operated on.
        address: PciAddress,
    },
    /// DPDK returned a negative error code.
    #[error("{op} of PCI device {address} failed: {errno}")]
    Failed {
        /// The operation: `"probe"` or `"remove"`.
        op: &'static str,
        /// The device operated on.
        address: PciAddress,
        /// The error code DPDK returned.
        #[source]
        errno: DpdkErrno,
    },
    /// Reading the device's sysfs directory failed.
    #[error(transparent)]
    Sysfs(#[from] SysfsError),
}

/// Iterates the devices on DPDK's PCI bus; see [`Eal::pci_devices`].
pub struct PciDevices<'eal> {
    iterator: Box<dpdk_sys::rte_dev_iterator>,
    // The iterator keeps pointers into this string.
    _filter: CString,
    root: PathBuf,
    /// The root's device directories by address, read once at the first need.
    dirs: Option<Vec<(PciAddress, PathBuf)>>,
    done: bool,
    _eal: PhantomData<&'eal Eal>,
}

/// [`PciDevices`] with DPDK's name for each device; see [`PciDevices::with_names`].
pub struct NamedPciDevices<'eal>(PciDevices<'eal>);

impl Eal {
    /// The devices DPDK's PCI bus holds, in DPDK's order (by address): one
    /// item for each.
    ///
    /// Each item reads the sysfs directory DPDK's scan read for the device; a
    /// malformed file gives an error for that device only, and the iteration
    /// goes on. [`PciDevices::with_names`] pairs each item with DPDK's name for
    /// the device, to report an error by name.
    pub fn pci_devices(&self) -> PciDevices<'_> {
        let filter = CString::new("bus=pci").expect("static string");
        // SAFETY: rte_dev_iterator is a plain C struct for which all-zero is the
        // state DPDK expects before rte_dev_iterator_init.
        let mut iterator: Box<dpdk_sys::rte_dev_iterator> = Box::new(unsafe { std::mem::zeroed() });
        // SAFETY: the iterator and the filter are heap-pinned in the returned value
        // and outlive the iteration; rte_errno is cleared because the function
        // returns -rte_errno even on success.
        let ret = unsafe {
            dpdk_sys::dpdk_shim_errno_set(0);
            dpdk_sys::rte_dev_iterator_init(&mut *iterator, filter.as_ptr())
        };
        PciDevices {
            iterator,
            _filter: filter,
            root: sysfs_pci_root(),
            dirs: None,
            done: ret != 0,
            _eal: PhantomData,
        }
    }

    /// The device at `address`, if DPDK's bus has it.
    pub fn pci_device(&self, address: PciAddress) -> Result<PciDevice, DeviceError> {
        let (mut devices, device, name) = self.find_rte_device(address)?;
        devices.describe(device, name)
    }

    /// Probes the device: DPDK matches its drivers against it and attaches one
    /// (`rte_dev_probe`). The device must be on the bus (allowlisted, or found by
    /// the scan) and bound to a kernel driver DPDK can use.
    ///
    /// Probe and remove change DPDK's device list, so they take the EAL
    /// exclusively: no device iterator or open VFIO device can be alive meanwhile.
    ///
    /// ```compile_fail
    /// fn f(mut eal: dpdk_safe::Eal, address: dpdk_safe::PciAddress) {
    ///     let mut devices = eal.pci_devices();
    ///     eal.remove(address).ok(); // error: `eal` is borrowed by the iterator
    ///     devices.next();
    /// }
    /// ```
    pub fn probe(&mut self, address: PciAddress) -> Result<(), DeviceError> {
        let _bus = lock_bus();
        self.probe_locked(address)
    }

    fn probe_locked(&mut self, address: PciAddress) -> Result<(), DeviceError> {
        // DPDK 22.11's rte_dev_probe logs an already-probed device as a failure
        // but returns 0 (it swallows -EEXIST): check first.
        if let Ok((_devices, device, _)) = self.find_rte_device(address) {
            // SAFETY: device came from DPDK's bus just now and is still listed.
            if !unsafe { dpdk_sys::rte_dev_driver(device) }.is_null() {
                return Err(DeviceError::AlreadyProbed(address));
            }
        }
        let devargs = CString::new(address.to_string()).expect("addresses have no NUL");
        // SAFETY: devargs is a valid C string for the duration of the call.
        let ret = unsafe { dpdk_sys::rte_dev_probe(devargs.as_ptr()) };
        match -ret {
            0 => Ok(()),
            libc::ENODEV => Err(DeviceError::NoSuchDevice(address)),
            libc::ENOTSUP => Err(DeviceError::NoDriver(address)),
            libc::EEXIST => Err(DeviceError::AlreadyProbed(address)),
            // A bare -1, not an errno: DPDK's rescan of the bus failed, or a
            // driver's probe returned -1.
            1 => Err(self.explain_minus_one("probe", address)),
            errno => Err(failed("probe", address, errno)),
        }
    }

    /// Detaches the DPDK driver from the device (`rte_dev_remove`).
    pub fn remove(&mut self, address: PciAddress) -> Result<(), DeviceError> {
        let _bus = lock_bus();
        self.remove_locked(address)
    }

    fn remove_locked(&mut self, address: PciAddress) -> Result<(), DeviceError> {
        let (_devices, device, _) = self.find_rte_device(address)?;
        // SAFETY: device came from DPDK's bus in this call and is still listed.
        if unsafe { dpdk_sys::rte_dev_driver(device) }.is_null() {
            return Err(DeviceError::NotProbed(address));
        }
        // SAFETY: as above; DPDK detaches the driver and keeps or frees the device.
        let ret = unsafe { dpdk_sys::rte_dev_remove(device) };
        match -ret {
            0 => Ok(()),
            libc::ENOENT => Err(DeviceError::NotProbed(address)),
            1 => Err(DeviceError::FailedWithoutErrno {
                op: "remove",
                address,
            }),
            errno => Err(failed("remove", address, errno)),
        }
    }

    /// What a bare -1 from `rte_dev_probe` meant. DPDK 22.11 rescans the whole
    /// bus first and gives up on the first device directory it cannot parse,
    /// returning -1 without probing anything; `rte_pci_scan` reads the same tree
    /// as [`SysfsDevice::read`], so a directory that this crate cannot parse
    /// either is named as the culprit. Otherwise a driver refused the device.
    fn explain_minus_one(&self, op: &'static str, address: PciAddress) -> DeviceError {
        let root = sysfs_pci_root();
        let culprit = list_device_dirs(&root).map_or_else(Some, |dirs| {
            dirs.iter()
                .find_map(|(_, dir)| SysfsDevice::read(dir).err().filter(dpdk_scan_fails_on))
        });
        match culprit {
            Some(culprit) => DeviceError::BusScanFailed {
                address,
                culprit: Box::new(culprit),
            },
            None => DeviceError::FailedWithoutErrno { op, address },
        }
    }

    /// DPDK's device at `address`, with the iterator that found it.
    pub(crate) fn find_rte_device(
        &self,
        address: PciAddress,
    ) -> Result<(PciDevices<'_>, *mut dpdk_sys::rte_device, String), DeviceError> {
        let mut devices = self.pci_devices();
        while let Some((device, name)) = devices.next_raw() {
            if name.parse::<PciAddress>().ok() == Some(address) {
                return Ok((devices, device, name));
            }
        }
        Err(DeviceError::NoSuchDevice(address))
    }
}

/// Whether DPDK's scan (`pci_scan_one`) fails on what this crate found wrong:
/// the files it parses, when they are not numbers at all or missing. It takes
/// over-wide values (it masks them) and never reads the `iommu_group` link.
fn dpdk_scan_fails_on(error: &SysfsError) -> bool {
    const SCANNED: [&str; 8] = [
        "vendor",
        "device",
        "subsystem_vendor",
        "subsystem_device",
        "class",
        "numa_node",
        "resource",
        "driver",
    ];
    let file = error.path().file_name().and_then(|n| n.to_str());
    file.is_some_and(|f| SCANNED.contains(&f))
        && !matches!(error.kind, SysfsErrorKind::OutOfRange { .. })
}

fn failed(op: &'static str, address: PciAddress, errno: i32) -> DeviceError {
    let errno = if errno == 0 { last_rte_errno() } else { errno };
    DeviceError::Failed {
        op,
        address,
        errno: DpdkErrno::new(errno),
    }
}

impl<'eal> PciDevices<'eal> {
    /// The next DPDK device and its name.
    fn next_raw(&mut self) -> Option<(*mut dpdk_sys::rte_device, String)> {
        if self.done {
            return None;
        }
        // SAFETY: the iterator was initialised by rte_dev_iterator_init and its
        // filter string is alive; DPDK returns NULL at the end.
        let device = unsafe { dpdk_sys::rte_dev_iterator_next(&mut *self.iterator) };
        if device.is_null() {
            self.done = true;
            return None;
        }
        // SAFETY: device is a live rte_device; its name is a NUL-terminated string
        // owned by DPDK, copied out at once.
        let name = unsafe { CStr::from_ptr(dpdk_sys::rte_dev_name(device)) }
            .to_string_lossy()
            .into_owned();
        Some((device, name))
    }

    /// Pairs each item with DPDK's name for the device (`rte_dev_name`): the
    /// address's text, or on DPDK 22.11.0 to 22.11.9 the allowlist entry that
    /// selected the device, as written.
    pub fn with_names(self) -> NamedPciDevices<'eal> {
        NamedPciDevices(self)
    }

    /// The directory DPDK's scan read for `address`. A directory that is gone
    /// (or a root that cannot be listed) gives the canonical path, whose read
    /// then fails naming it.
    fn sysfs_dir(&mut self, address: PciAddress) -> PathBuf {
        let root = &self.root;
        let dirs = self
            .dirs
            .get_or_insert_with(|| list_device_dirs(root).unwrap_or_default());
        device_dir(dirs, address)
            .map_or_else(|| self.root.join(address.to_string()), Path::to_path_buf)
    }

    fn describe(
        &mut self,
        device: *mut dpdk_sys::rte_device,
        name: String,
    ) -> Result<PciDevice, DeviceError> {
        let address: PciAddress = name
            .parse()
            .map_err(|_| DeviceError::BadName { name: name.clone() })?;
        // SAFETY: device is live (returned by the iterator just now).
        let (numa, driver) = unsafe {
            (
                dpdk_sys::rte_dev_numa_node(device),
                dpdk_sys::rte_dev_driver(device),
            )
        };
        let dpdk_driver = (!driver.is_null()).then(|| {
            // SAFETY: a non-NULL driver is a registered rte_driver with a static name.
            unsafe { CStr::from_ptr(dpdk_sys::rte_driver_name(driver)) }
                .to_string_lossy()
                .into_owned()
        });
        let sysfs_path = self.sysfs_dir(address);
        let mut sysfs = SysfsDevice::read(&sysfs_path)?;
        sysfs.address = address;
        sysfs.numa_node = u32::try_from(numa).ok();
        Ok(PciDevice {
            sysfs,
            dpdk_driver,
            sysfs_path,
        })
    }
}

impl Iterator for PciDevices<'_> {
    type Item = Result<PciDevice, DeviceError>;

    fn next(&mut self) -> Option<Self::Item> {
        let (device, name) = self.next_raw()?;
        Some(self.describe(device, name))
    }
}

impl Iterator for NamedPciDevices<'_> {
    type Item = (String, Result<PciDevice, DeviceError>);

    fn next(&mut self) -> Option<Self::Item> {
        let (device, name) = self.0.next_raw()?;
        let item = self.0.describe(device, name.clone());
        Some((name, item))
    }
}
