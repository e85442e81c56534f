//! The device DPDK hands a driver's callbacks: its address, IDs, NUMA node,
//! config space and BARs.

use std::ffi::CStr;
use std::marker::PhantomData;

use dpdk_sys::pci_driver_sdk as sdk;

use crate::io::region::{BarIndex, RegionIndex};
use crate::pci::address::PciAddress;
use crate::pci::driver::config::DpdkConfig;
use crate::pci::driver::dpdk_bar::{DpdkBar, DpdkBarError};
use crate::pci::sysfs::{PciClass, PciDeviceIds};

/// The device DPDK hands a driver's probe and remove callbacks.
pub struct ProbedDevice<'a> {
    raw: *mut sdk::rte_pci_device,
    _callback: PhantomData<&'a sdk::rte_pci_device>,
}

impl ProbedDevice<'_> {
    /// # Safety
    /// `raw` is a live device for the duration of the callback.
    pub(super) unsafe fn from_raw(raw: *mut sdk::rte_pci_device) -> Self {
        ProbedDevice {
            raw,
            _callback: PhantomData,
        }
    }

    /// DPDK's device, for DPDK's calls on it while the callback runs.
    pub(super) fn raw(&self) -> *mut sdk::rte_pci_device {
        self.raw
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

    /// The device's PCI address.
    pub fn address(&self) -> PciAddress {
        let a = self.device().addr;
        PciAddress::new(a.domain, a.bus, a.devid, a.function)
    }

    /// The device's vendor, device and subsystem IDs.
    pub fn ids(&self) -> PciDeviceIds {
        let id = self.device().id;
        PciDeviceIds {
            vendor: id.vendor_id,
            device: id.device_id,
            subsystem_vendor: id.subsystem_vendor_id,
            subsystem_device: id.subsystem_device_id,
        }
    }

    /// The device's class code.
    pub fn class(&self) -> PciClass {
        PciClass::new(self.device().id.class_id)
    }

    /// NUMA node; `None` when unknown.
    pub fn numa_node(&self) -> Option<u32> {
        u32::try_from(self.device().device.numa_node).ok()
    }

    /// DPDK's name for the device.
    pub fn name(&self) -> String {
        // SAFETY: `name` is a NUL-terminated array inside the device.
        unsafe { CStr::from_ptr(self.device().name.as_ptr()) }
            .to_string_lossy()
            .into_owned()
    }

    /// Whether DPDK mapped BAR `index` (drivers with [`DriverFlags::NEED_MAPPING`](crate::DriverFlags::NEED_MAPPING)).
    pub fn bar_mapped(&self, index: BarIndex) -> bool {
        !self.device().mem_resource[index.as_usize()].addr.is_null()
    }

    /// Length of BAR `index` as DPDK recorded it (0 for none).
    pub fn bar_len(&self, index: BarIndex) -> u64 {
        self.device().mem_resource[index.as_usize()].len
    }

    /// BAR `index` as DPDK mapped it for a driver with [`DriverFlags::NEED_MAPPING`](crate::DriverFlags::NEED_MAPPING):
    /// a view with the same accessors as a mapping of
    /// [`VfioDevice::map_bar`](crate::VfioDevice::map_bar), owning nothing
    /// (DPDK unmaps it when it removes the device).
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
    /// out). Accesses elsewhere are
    /// [`AccessError::NotMapped`](crate::AccessError::NotMapped), not a fault.
    #[cfg(target_pointer_width = "64")]
    pub fn bar(&self, index: BarIndex) -> Option<crate::io::mapped::RegionView<'_>> {
        let device = self.device();
        if !self.opened_by_dpdk() {
            return None;
        }
        let resource = &device.mem_resource[index.as_usize()];
        let base = std::ptr::NonNull::new(resource.addr.cast::<u8>())?;
        let fd = crate::pci::driver::dpdk_bar::vfio_device_file(device)?;
        let info = crate::vfio::region::region_info(fd, RegionIndex::Bar(index)).ok()?;
        // What DPDK mapped: `info.size` bytes at `addr`, for a mappable BAR of
        // the size its scan recorded.
        if !info.flags.mmap || info.size == 0 || info.size != resource.len {
            return None;
        }
        let exclude = crate::vfio::msix::unmappable_ranges(fd, &info).ok()?;
        let ranges = crate::io::mapped::mappable_ranges(&info.mappable().ok()?, &exclude).ok()?;
        // DPDK mapped afresh for this probe (NEED_MAPPING), read-write, the
        // ranges its pci_vfio_mmap_bar / pci_vfio_sparse_mmap_bar derive from
        // this same region info, and unmaps only on removal.
        // SAFETY: those ranges at `base` stay mapped read-write while this
        // callback's borrow lives (a removal cannot happen before it ends).
        Some(unsafe { crate::io::mapped::RegionView::new(info.window(), base, ranges) })
    }

    /// What the kernel says about BAR `index`, asked on DPDK's own VFIO device
    /// file: `None` unless the device is bound to vfio-pci and DPDK opened it
    /// (drivers with `NEED_MAPPING`).
    pub fn bar_info(&self, index: BarIndex) -> Option<crate::vfio::region::RegionInfo> {
        if !self.opened_by_dpdk() {
            return None;
        }
        let fd = crate::pci::driver::dpdk_bar::vfio_device_file(self.device())?;
        crate::vfio::region::region_info(fd, RegionIndex::Bar(index)).ok()
    }

    /// BAR `index` through DPDK, on every target and whether or not DPDK mapped
    /// it: `rte_pci_mmio_read`/`write` where DPDK has them (23.07+), the VFIO
    /// device file with `pread64`/`pwrite64` otherwise (see [`DpdkBar`]).
    pub fn bar_registers(&self, index: BarIndex) -> Result<DpdkBar<'_>, DpdkBarError> {
        // SAFETY: the device is live and unchanged for this callback, which the
        // returned value cannot outlive (it borrows self).
        unsafe { DpdkBar::new(self.device(), index, self.opened_by_dpdk(), self.address()) }
    }

    /// Config space through DPDK (`rte_pci_read_config`), on every target.
    pub fn config(&self) -> DpdkConfig<'_> {
        DpdkConfig::new(self)
    }
}
