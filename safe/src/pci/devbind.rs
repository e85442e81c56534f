//! Binding PCI devices to vfio-pci (or back), as `dpdk-devbind.py` does.
//!
//! Everything goes through sysfs, rooted at a devices directory
//! ([`sysfs_pci_root`](crate::sysfs_pci_root): `$SYSFS_PCI_DEVICES` or
//! `/sys/bus/pci/devices`); the driver directories and `drivers_probe` are its
//! siblings (`../drivers`, `../drivers_probe`), as on a real system and in a
//! [`FakePciTree`](crate::testing::FakePciTree). A bind is:
//!
//! 1. the checks `dpdk-devbind.py` makes, as typed errors: the device exists;
//!    it has no network interface that is up ([`DevbindError::ActiveInterface`])
//!    and no block device with a mounted or swapped-on partition
//!    ([`DevbindError::MountedDisk`]); for vfio-pci, an IOMMU group
//!    ([`DevbindError::NoIommu`]) whose other devices are unbound or bound to
//!    vfio-pci or pci-stub ([`DevbindError::GroupNotViable`]), and the driver
//!    loaded ([`DevbindError::DriverNotLoaded`], or `modprobe` when allowed, on
//!    the real `/sys` only);
//! 2. the writes: the address to the current driver's `unbind`, the driver's
//!    name to the device's `driver_override`, the address to the new driver's
//!    `bind`, then an empty `driver_override` again, so that a later re-probe
//!    picks the device's own driver ([`Devbind::plan_bind`] lists them without
//!    writing);
//! 3. a check that the kernel bound it ([`DevbindError::NotBound`]).
//!
//! [`Devbind::restore`] unbinds and lets the kernel re-probe
//! (`drivers_probe`), which binds the device's own driver again.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::address::PciAddress;
use super::sysfs::{list_device_dirs, KernelDriver, PciClass, PciDeviceIds};

/// `IFF_UP` of a network interface's `flags` file.
const IFF_UP: u32 = 0x1;

/// Drivers the kernel accepts beside vfio-pci in a viable VFIO group.
const VIABLE_DRIVERS: &[&str] = &["vfio-pci", "pci-stub"];

/// Why a device could not be listed, bound or unbound.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DevbindError {
    /// No directory for the address in the sysfs tree.
    #[error("{0}: no such PCI device")]
    NoDevice(PciAddress),
    /// One of the device's network interfaces is up (devbind refuses it too).
    #[error(
        "{address}: network interface {interface} is up; take it down first \
         (ip link set {interface} down) if you mean to give the device to DPDK"
    )]
    ActiveInterface {
        /// The device.
        address: PciAddress,
        /// The interface that is up, e.g. `eth0`.
        interface: String,
    },
    /// A disk behind the device is mounted or used as swap.
    #[error("{address}: disk {disk} is in use ({use_}); unmount it first")]
    MountedDisk {
        /// The device.
        address: PciAddress,
        /// The block device, e.g. `nvme0n1p2`.
        disk: String,
        /// `mounted on PATH` or `swap`.
        use_: String,
    },
    /// The device has no IOMMU group, so vfio-pci cannot take it.
    #[error(
        "{address} has no IOMMU group: enable the IOMMU (intel_iommu=on or amd_iommu=on \
         on the kernel command line) for vfio-pci"
    )]
    NoIommu {
        /// The device.
        address: PciAddress,
    },
    /// Another device of the group is bound to a driver other than vfio-pci.
    #[error(
        "{address}: IOMMU group {group} is not viable: {} must be unbound or bound to \
         vfio-pci too",
        others.iter().map(|(a, d)| format!("{a} (bound to {d})")).collect::<Vec<_>>().join(", ")
    )]
    GroupNotViable {
        /// The device.
        address: PciAddress,
        /// Its IOMMU group number.
        group: u32,
        /// The group's other devices and their drivers.
        others: Vec<(PciAddress, String)>,
    },
    /// The target driver has no directory under `/sys/bus/pci/drivers`.
    #[error("driver {driver} is not loaded (no {}); load it: modprobe {driver}", dir.display())]
    DriverNotLoaded {
        /// The driver, e.g. `vfio-pci`.
        driver: String,
        /// The directory that is missing.
        dir: PathBuf,
    },
    /// Loading the driver's module failed.
    #[error("modprobe {driver} failed: {detail}")]
    Modprobe {
        /// The module.
        driver: String,
        /// What modprobe said, or why it could not run.
        detail: String,
    },
    /// The kernel did not bind the device as asked.
    #[error("{address}: after the writes the device is bound to {actual:?}, not {expected:?}")]
    NotBound {
        /// The device.
        address: PciAddress,
        /// The driver asked for (`None`: unbound).
        expected: Option<String>,
        /// The driver it is bound to now.
        actual: Option<String>,
    },
    /// Reading or writing a sysfs file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What failed.
        #[source]
        source: io::Error,
    },
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> DevbindError + '_ {
    move |source| DevbindError::Io {
        path: path.to_owned(),
        source,
    }
}

/// One device as `dpdk-devbind.py --status` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceStatus {
    /// The device's address.
    pub address: PciAddress,
    /// Vendor, device and subsystem IDs.
    pub ids: PciDeviceIds,
    /// The class code.
    pub class: PciClass,
    /// The bound kernel driver; `None` when no driver is bound.
    pub driver: Option<KernelDriver>,
    /// IOMMU group number, when the device has one.
    pub iommu_group: Option<u32>,
    /// `driver_override`, when set.
    pub driver_override: Option<String>,
    /// Network interfaces and whether each is up.
    pub interfaces: Vec<(String, bool)>,
    /// Block devices (disks and partitions) behind the device.
    pub disks: Vec<String>,
}

/// One sysfs write of a bind or unbind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SysfsWrite {
    /// The sysfs file written.
    pub path: PathBuf,
    /// What is written to it.
    pub value: String,
}

/// What a bind changed, for [`Devbind::restore_binding`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use = "the original driver is needed to restore it"]
pub struct Binding {
    /// The device.
    pub address: PciAddress,
    /// The driver bound before, if any.
    pub original: Option<KernelDriver>,
    /// The driver it was bound to.
    pub driver: String,
}

/// Binding and unbinding over one sysfs tree.
#[derive(Debug, Clone)]
pub struct Devbind {
    devices: PathBuf,
    drivers: PathBuf,
    drivers_probe: PathBuf,
    mounts: PathBuf,
    swaps: PathBuf,
    /// `modprobe` is allowed (never for a tree other than the real `/sys`).
    load_modules: bool,
}

impl Default for Devbind {
    fn default() -> Self {
        Self::system()
    }
}

impl Devbind {
    /// The tree DPDK's bus reads: `$SYSFS_PCI_DEVICES` or `/sys/bus/pci/devices`.
    pub fn system() -> Self {
        Self::at(&super::sysfs::sysfs_pci_root())
    }

    /// A tree rooted at the devices directory `devices`.
    pub fn at(devices: &Path) -> Self {
        let bus = devices.parent().unwrap_or(Path::new("/"));
        Devbind {
            devices: devices.to_owned(),
            drivers: bus.join("drivers"),
            drivers_probe: bus.join("drivers_probe"),
            mounts: "/proc/mounts".into(),
            swaps: "/proc/swaps".into(),
            load_modules: false,
        }
    }

    /// Reads mounts and swaps from other files than `/proc/mounts` and
    /// `/proc/swaps` (for tests).
    pub fn mount_tables(mut self, mounts: &Path, swaps: &Path) -> Self {
        self.mounts = mounts.to_owned();
        self.swaps = swaps.to_owned();
        self
    }

    /// Allows `modprobe DRIVER` when the driver is not loaded. Only honoured
    /// for the real `/sys/bus/pci/devices`: a test tree never loads modules.
    pub fn load_modules(mut self, allow: bool) -> Self {
        self.load_modules = allow;
        self
    }

    fn is_real_sysfs(&self) -> bool {
        self.devices == Path::new("/sys/bus/pci/devices")
    }

    fn device_dir(&self, address: PciAddress) -> Result<PathBuf, DevbindError> {
        let dirs = list_device_dirs(&self.devices).map_err(|e| DevbindError::Io {
            path: self.devices.clone(),
            source: io::Error::other(e.to_string()),
        })?;
        super::sysfs::device_dir(&dirs, address)
            .map(Path::to_owned)
            .ok_or(DevbindError::NoDevice(address))
    }

    /// Every device, ordered by address.
    pub fn status(&self) -> Result<Vec<DeviceStatus>, DevbindError> {
        let dirs = list_device_dirs(&self.devices).map_err(|e| DevbindError::Io {
            path: self.devices.clone(),
            source: io::Error::other(e.to_string()),
        })?;
        let mut out = Vec::new();
        for (address, dir) in dirs {
            out.push(self.read_status(address, &dir)?);
        }
        out.sort_by_key(|d| d.address);
        Ok(out)
    }

    /// One device.
    pub fn device_status(&self, address: PciAddress) -> Result<DeviceStatus, DevbindError> {
        let dir = self.device_dir(address)?;
        self.read_status(address, &dir)
    }

    fn read_status(&self, address: PciAddress, dir: &Path) -> Result<DeviceStatus, DevbindError> {
        let hex = |name: &str| -> Result<u32, DevbindError> {
            let path = dir.join(name);
            let text = fs::read_to_string(&path).map_err(io_error(&path))?;
            u32::from_str_radix(text.trim().trim_start_matches("0x"), 16).map_err(|_| {
                DevbindError::Io {
                    path: path.clone(),
                    source: io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("not a hex number: {:?}", text.trim()),
                    ),
                }
            })
        };
        let driver_override = match fs::read_to_string(dir.join("driver_override")) {
            Ok(text) => Some(text.trim().to_owned()).filter(|t| !t.is_empty() && t != "(null)"),
            Err(_) => None,
        };
        Ok(DeviceStatus {
            address,
            ids: PciDeviceIds {
                vendor: hex("vendor")? as u16,
                device: hex("device")? as u16,
                subsystem_vendor: hex("subsystem_vendor")? as u16,
                subsystem_device: hex("subsystem_device")? as u16,
            },
            class: PciClass::new(hex("class")?),
            driver: link_name(&dir.join("driver")).map(|name| KernelDriver::from_name(&name)),
            iommu_group: link_name(&dir.join("iommu_group")).and_then(|g| g.parse().ok()),
            driver_override,
            interfaces: interfaces(dir),
            disks: disks(dir),
        })
    }

    /// The checks a bind to `driver` makes, without writing anything.
    fn check(&self, status: &DeviceStatus, driver: Option<&str>) -> Result<(), DevbindError> {
        let address = status.address;
        if let Some((interface, _)) = status.interfaces.iter().find(|(_, up)| *up) {
            return Err(DevbindError::ActiveInterface {
                address,
                interface: interface.clone(),
            });
        }
        if let Some((disk, use_)) = self.disk_in_use(&status.disks)? {
            return Err(DevbindError::MountedDisk {
                address,
                disk,
                use_,
            });
        }
        if driver == Some("vfio-pci") {
            let group = status
                .iommu_group
                .ok_or(DevbindError::NoIommu { address })?;
            let dir = self.device_dir(address)?.join("iommu_group/devices");
            let mut others = Vec::new();
            if let Ok(entries) = fs::read_dir(&dir) {
                for entry in entries.flatten() {
                    let Some(other) = entry
                        .file_name()
                        .to_str()
                        .and_then(|n| n.parse::<PciAddress>().ok())
                    else {
                        continue;
                    };
                    if other == address {
                        continue;
                    }
                    if let Some(d) = link_name(&entry.path().join("driver")) {
                        if !VIABLE_DRIVERS.contains(&d.as_str()) {
                            others.push((other, d));
                        }
                    }
                }
            }
            if !others.is_empty() {
                others.sort();
                return Err(DevbindError::GroupNotViable {
                    address,
                    group,
                    others,
                });
            }
        }
        Ok(())
    }

    /// The first of `disks` that is mounted or swapped on.
    fn disk_in_use(&self, disks: &[String]) -> Result<Option<(String, String)>, DevbindError> {
        if disks.is_empty() {
            return Ok(None);
        }
        let mounts = read_optional(&self.mounts)?;
        let swaps = read_optional(&self.swaps)?;
        for disk in disks {
            let node = format!("/dev/{disk}");
            for line in mounts.lines() {
                let mut fields = line.split(' ');
                if let (Some(source), Some(target)) = (fields.next(), fields.next()) {
                    if source == node {
                        return Ok(Some((disk.clone(), format!("mounted on {target}"))));
                    }
                }
            }
            if swaps
                .lines()
                .any(|l| l.split_whitespace().next() == Some(&node))
            {
                return Ok(Some((disk.clone(), "swap".to_owned())));
            }
        }
        Ok(None)
    }

    /// The writes that bind `address` to `driver` (empty if it is bound to it
    /// already), after the checks.
    pub fn plan_bind(
        &self,
        address: PciAddress,
        driver: &str,
    ) -> Result<Vec<SysfsWrite>, DevbindError> {
        let status = self.device_status(address)?;
        if status
            .driver
            .as_ref()
            .is_some_and(|bound| bound.name() == driver)
        {
            return Ok(Vec::new());
        }
        self.check(&status, Some(driver))?;
        let dir = self.device_dir(address)?;
        let target = self.drivers.join(driver);
        if !target.is_dir() {
            return Err(DevbindError::DriverNotLoaded {
                driver: driver.to_owned(),
                dir: target,
            });
        }
        let mut writes = Vec::new();
        if status.driver.is_some() {
            writes.push(SysfsWrite {
                path: dir.join("driver/unbind"),
                value: address.to_string(),
            });
        }
        writes.push(SysfsWrite {
            path: dir.join("driver_override"),
            value: driver.to_owned(),
        });
        writes.push(SysfsWrite {
            path: target.join("bind"),
            value: address.to_string(),
        });
        // Cleared again (the kernel keeps the binding): a later re-probe then
        // picks the device's own driver.
        writes.push(SysfsWrite {
            path: dir.join("driver_override"),
            value: "\n".to_owned(),
        });
        Ok(writes)
    }

    /// The writes that unbind `address` (empty if no driver is bound).
    pub fn plan_unbind(&self, address: PciAddress) -> Result<Vec<SysfsWrite>, DevbindError> {
        let status = self.device_status(address)?;
        if status.driver.is_none() {
            return Ok(Vec::new());
        }
        self.check(&status, None)?;
        Ok(vec![SysfsWrite {
            path: self.device_dir(address)?.join("driver/unbind"),
            value: address.to_string(),
        }])
    }

    /// Binds `address` to `driver` (for DPDK: `"vfio-pci"`).
    pub fn bind(&self, address: PciAddress, driver: &str) -> Result<Binding, DevbindError> {
        let before = self.device_status(address)?;
        let target = self.drivers.join(driver);
        if !target.is_dir() && self.load_modules && self.is_real_sysfs() {
            modprobe(driver)?;
        }
        let writes = self.plan_bind(address, driver)?;
        apply_sysfs_writes(&writes)?;
        self.expect_driver(address, Some(driver))?;
        Ok(Binding {
            address,
            original: before.driver,
            driver: driver.to_owned(),
        })
    }

    /// Unbinds `address` from its driver.
    pub fn unbind(&self, address: PciAddress) -> Result<(), DevbindError> {
        apply_sysfs_writes(&self.plan_unbind(address)?)?;
        self.expect_driver(address, None)
    }

    /// Gives `address` back to the driver the kernel picks for it (its own):
    /// unbinds it, clears `driver_override` and asks the kernel to probe it.
    /// Returns the driver now bound.
    pub fn restore(&self, address: PciAddress) -> Result<Option<KernelDriver>, DevbindError> {
        let mut writes = self.plan_unbind(address)?;
        let dir = self.device_dir(address)?;
        writes.push(SysfsWrite {
            path: dir.join("driver_override"),
            value: "\n".to_owned(),
        });
        writes.push(SysfsWrite {
            path: self.drivers_probe.clone(),
            value: address.to_string(),
        });
        apply_sysfs_writes(&writes)?;
        Ok(self.device_status(address)?.driver)
    }

    /// Undoes a [`bind`](Self::bind): the original driver again, or none.
    pub fn restore_binding(&self, binding: Binding) -> Result<(), DevbindError> {
        match &binding.original {
            Some(original) => {
                let _rebound = self.bind(binding.address, original.name())?;
            }
            None => self.unbind(binding.address)?,
        }
        Ok(())
    }

    fn expect_driver(
        &self,
        address: PciAddress,
        expected: Option<&str>,
    ) -> Result<(), DevbindError> {
        let actual = self.device_status(address)?.driver;
        let actual = actual.as_ref().map(KernelDriver::name);
        if actual == expected {
            Ok(())
        } else {
            Err(DevbindError::NotBound {
                address,
                expected: expected.map(str::to_owned),
                actual: actual.map(str::to_owned),
            })
        }
    }
}

/// Performs the writes in order; the first failure stops them.
pub fn apply_sysfs_writes(writes: &[SysfsWrite]) -> Result<(), DevbindError> {
    for write in writes {
        fs::write(&write.path, &write.value).map_err(io_error(&write.path))?;
    }
    Ok(())
}

fn modprobe(driver: &str) -> Result<(), DevbindError> {
    let out =
        Command::new("modprobe")
            .arg(driver)
            .output()
            .map_err(|e| DevbindError::Modprobe {
                driver: driver.to_owned(),
                detail: e.to_string(),
            })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(DevbindError::Modprobe {
            driver: driver.to_owned(),
            detail: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        })
    }
}

fn read_optional(path: &Path) -> Result<String, DevbindError> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(text),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(String::new()),
        Err(e) => Err(io_error(path)(e)),
    }
}

/// The last component of a symlink's target (`driver`, `iommu_group`).
fn link_name(link: &Path) -> Option<String> {
    let target = fs::read_link(link).ok()?;
    Some(target.file_name()?.to_str()?.to_owned())
}

/// `net/<ifname>` of a device, each with `IFF_UP` from its `flags`.
fn interfaces(dir: &Path) -> Vec<(String, bool)> {
    let mut found = Vec::new();
    if let Ok(entries) = fs::read_dir(dir.join("net")) {
        for entry in entries.flatten() {
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            let up = fs::read_to_string(entry.path().join("flags"))
                .ok()
                .and_then(|t| u32::from_str_radix(t.trim().trim_start_matches("0x"), 16).ok())
                .is_some_and(|flags| flags & IFF_UP != 0);
            found.push((name, up));
        }
    }
    found.sort();
    found
}

/// Block devices below a device's directory (`.../block/<disk>` and the
/// disk's partitions), found without following symlinks, a few levels deep
/// (an NVMe namespace is `nvme/nvme0/nvme0n1`, a SCSI disk
/// `host0/target0:0:0/0:0:0:0/block/sda`).
fn disks(dir: &Path) -> Vec<String> {
    fn walk(dir: &Path, depth: u32, found: &mut Vec<String>) {
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if !kind.is_dir() {
                continue;
            }
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            // A block device's directory has a `dev` file and a `size`.
            if path.join("dev").is_file() && path.join("size").is_file() && has_block_parent(&path)
            {
                found.push(name);
                // Its partitions are subdirectories with a `partition` file.
                if let Ok(parts) = fs::read_dir(&path) {
                    for part in parts.flatten() {
                        if part.path().join("partition").is_file() {
                            found.push(part.file_name().to_string_lossy().into_owned());
                        }
                    }
                }
                continue;
            }
            if depth > 0 {
                walk(&path, depth - 1, found);
            }
        }
    }
    fn has_block_parent(path: &Path) -> bool {
        // `.../block/<disk>` (SCSI, virtio) or an NVMe namespace `.../nvme0/nvme0n1`.
        path.parent()
            .and_then(Path::file_name)
            .is_some_and(|p| p == "block" || p.to_string_lossy().starts_with("nvme"))
    }
    let mut found = Vec::new();
    walk(dir, 6, &mut found);
    found.sort();
    found.dedup();
    found
}
