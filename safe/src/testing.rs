//! Fake sysfs PCI trees, for tests that must never touch real hardware.
//!
//! DPDK's PCI bus reads `$SYSFS_PCI_DEVICES` instead of `/sys/bus/pci/devices`
//! when it is set, and so does [`crate::sysfs_pci_root`]. A [`FakePciTree`]
//! writes device directories in the format Linux uses, so the same tree can be
//! read by this crate and scanned by DPDK in the same test.
//!
//! ```
//! use dpdk_safe::testing::{FakeDevice, FakePciTree};
//! use dpdk_safe::BarIndex;
//! let tree = FakePciTree::new()?;
//! tree.add(&FakeDevice::new("0000:00:03.0".parse()?).ids(0x1234, 0x11e8).bar(BarIndex::BAR0, 0xfea0_0000, 1 << 20, 0x40200))?;
//! let dev = dpdk_safe::SysfsDevice::read(&tree.devices_dir().join("0000:00:03.0"))?;
//! assert_eq!(dev.ids.device, 0x11e8);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt::Write as _;
use std::fs;
use std::io;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use crate::io::region::BarIndex;
use crate::pci::address::PciAddress;

/// `IORESOURCE_MEM`: a 32-bit memory BAR.
pub const FLAGS_MEM32: u64 = 0x0004_0200;
/// `IORESOURCE_MEM | IORESOURCE_MEM_64 | IORESOURCE_PREFETCH`.
pub const FLAGS_MEM64_PREFETCH: u64 = 0x0014_220c;
/// `IORESOURCE_IO`: an I/O port BAR.
pub const FLAGS_IO: u64 = 0x0004_0101;

/// A temporary sysfs-like tree: `BASE/devices/ADDR/...`, with the link targets in
/// `BASE/drivers/NAME` and `BASE/iommu_groups/N`. Removed on drop.
#[derive(Debug)]
pub struct FakePciTree {
    base: PathBuf,
    devices: PathBuf,
    keep: bool,
}

/// One device to write into a [`FakePciTree`].
#[derive(Debug, Clone)]
pub struct FakeDevice {
    /// The address; names the device's directory.
    pub address: PciAddress,
    /// Written to `vendor` as `0x%04x`.
    pub vendor: u16,
    /// Written to `device` as `0x%04x`.
    pub device: u16,
    /// Written to `subsystem_vendor` as `0x%04x`.
    pub subsystem_vendor: u16,
    /// Written to `subsystem_device` as `0x%04x`.
    pub subsystem_device: u16,
    /// Class, subclass and programming interface (24 bits), written to `class` as `0x%06x`.
    pub class: u32,
    /// Written to `numa_node`; `None` writes `-1` (no NUMA).
    pub numa_node: Option<i32>,
    /// Name of the kernel driver the `driver` link points to; `None` leaves out the link.
    pub driver: Option<String>,
    /// IOMMU group number the `iommu_group` link points to; `None` leaves out the link.
    pub iommu_group: Option<u32>,
    /// `(start, len, flags)` per BAR; index 6 is the ROM.
    pub resources: [Option<(u64, u64, u64)>; 7],
}

impl FakeDevice {
    /// A device bound to vfio-pci, with IDs no DPDK driver claims (1234:0001).
    pub fn new(address: PciAddress) -> Self {
        FakeDevice {
            address,
            vendor: 0x1234,
            device: 0x0001,
            subsystem_vendor: 0x1af4,
            subsystem_device: 0x1100,
            class: 0x00ff00,
            numa_node: None,
            driver: Some("vfio-pci".to_owned()),
            iommu_group: None,
            resources: [None; 7],
        }
    }

    /// Sets the vendor and device IDs.
    pub fn ids(mut self, vendor: u16, device: u16) -> Self {
        self.vendor = vendor;
        self.device = device;
        self
    }

    /// Sets the subsystem vendor and subsystem device IDs.
    pub fn subsystem(mut self, vendor: u16, device: u16) -> Self {
        self.subsystem_vendor = vendor;
        self.subsystem_device = device;
        self
    }

    /// Sets the 24-bit class code (class, subclass, programming interface).
    pub fn class(mut self, class: u32) -> Self {
        self.class = class;
        self
    }

    /// `None` writes `-1`, as Linux does on machines without NUMA.
    pub fn numa_node(mut self, node: Option<i32>) -> Self {
        self.numa_node = node;
        self
    }

    /// `None` leaves out the `driver` link: DPDK's scan then skips the device.
    pub fn driver(mut self, driver: Option<&str>) -> Self {
        self.driver = driver.map(str::to_owned);
        self
    }

    /// Sets the IOMMU group; `None` leaves out the `iommu_group` link.
    pub fn iommu_group(mut self, group: Option<u32>) -> Self {
        self.iommu_group = group;
        self
    }

    /// BAR `index` at `start`, `len` bytes, with `IORESOURCE_*` flags.
    /// A 64-bit BAR also occupies the next index, which Linux reports empty.
    pub fn bar(mut self, index: BarIndex, start: u64, len: u64, flags: u64) -> Self {
        self.resources[usize::from(index.get())] = Some((start, len, flags));
        self
    }

    /// Sets the expansion ROM (`resource` line 7) to `len` bytes at `start`, with the flags
    /// Linux shows for a ROM (0x46200).
    pub fn rom(mut self, start: u64, len: u64) -> Self {
        self.resources[6] = Some((start, len, 0x0004_6200));
        self
    }

    /// The `resource` file Linux would write: 13 lines of three hex numbers.
    pub fn resource_file(&self) -> String {
        let mut text = String::with_capacity(13 * 57);
        for i in 0..13 {
            let (start, end, flags) = match self.resources.get(i).copied().flatten() {
                Some((start, len, flags)) if len > 0 => (start, start + len - 1, flags),
                _ => (0, 0, 0),
            };
            let _ = writeln!(text, "0x{start:016x} 0x{end:016x} 0x{flags:016x}");
        }
        text
    }
}

impl FakePciTree {
    /// Creates an empty tree in a fresh temporary directory.
    pub fn new() -> io::Result<Self> {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let base =
            std::env::temp_dir().join(format!("dpdk-rs-fake-pci-{}-{n}", std::process::id()));
        if base.exists() {
            fs::remove_dir_all(&base)?;
        }
        let devices = base.join("devices");
        fs::create_dir_all(&devices)?;
        Ok(FakePciTree {
            base,
            devices,
            keep: false,
        })
    }

    /// The directory to put in `SYSFS_PCI_DEVICES`.
    pub fn devices_dir(&self) -> &Path {
        &self.devices
    }

    /// Keeps the tree on disk after drop (for a process that outlives this value).
    pub fn keep(mut self) -> PathBuf {
        self.keep = true;
        self.devices.clone()
    }

    /// Writes one device directory, named after the device's address, and its
    /// links, replacing what was there; returns the directory.
    pub fn add(&self, dev: &FakeDevice) -> io::Result<PathBuf> {
        self.add_named(&dev.address.to_string(), dev)
    }

    /// Like [`add`](Self::add), but the directory is called `name` whatever
    /// `dev.address` says: for the names DPDK's scan reads in its own way
    /// (`0:3:0.1`, a function in decimal, ...) and names it skips. `name` must
    /// be a single path component.
    pub fn add_named(&self, name: &str, dev: &FakeDevice) -> io::Result<PathBuf> {
        if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\0']) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{name:?} is not a single path component"),
            ));
        }
        let dir = self.devices.join(name);
        fs::create_dir_all(&dir)?;
        for link in ["driver", "iommu_group"] {
            match fs::remove_file(dir.join(link)) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        fs::write(dir.join("vendor"), format!("0x{:04x}\n", dev.vendor))?;
        fs::write(dir.join("device"), format!("0x{:04x}\n", dev.device))?;
        fs::write(
            dir.join("subsystem_vendor"),
            format!("0x{:04x}\n", dev.subsystem_vendor),
        )?;
        fs::write(
            dir.join("subsystem_device"),
            format!("0x{:04x}\n", dev.subsystem_device),
        )?;
        fs::write(dir.join("class"), format!("0x{:06x}\n", dev.class))?;
        fs::write(
            dir.join("numa_node"),
            format!("{}\n", dev.numa_node.unwrap_or(-1)),
        )?;
        fs::write(dir.join("resource"), dev.resource_file())?;
        if let Some(driver) = &dev.driver {
            let target = self.base.join("drivers").join(driver);
            fs::create_dir_all(&target)?;
            symlink(&target, dir.join("driver"))?;
        }
        if let Some(group) = dev.iommu_group {
            let target = self.base.join("iommu_groups").join(group.to_string());
            fs::create_dir_all(target.join("devices"))?;
            symlink(&target, dir.join("iommu_group"))?;
            // The group's member list, as in /sys/kernel/iommu_groups/N/devices.
            let member = target.join("devices").join(name);
            if fs::symlink_metadata(&member).is_err() {
                symlink(&dir, member)?;
            }
        }
        Ok(dir)
    }

    /// Overwrites one attribute file with raw bytes, for malformed-input tests.
    pub fn write_attr(
        &self,
        address: PciAddress,
        name: &str,
        contents: impl AsRef<[u8]>,
    ) -> io::Result<()> {
        fs::write(self.devices.join(address.to_string()).join(name), contents)
    }

    /// Removes one attribute file or link.
    pub fn remove_attr(&self, address: PciAddress, name: &str) -> io::Result<()> {
        fs::remove_file(self.devices.join(address.to_string()).join(name))
    }
}

impl Drop for FakePciTree {
    fn drop(&mut self) {
        if !self.keep {
            let _ = fs::remove_dir_all(&self.base);
        }
    }
}
