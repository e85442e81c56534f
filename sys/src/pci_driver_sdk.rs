//! The PCI driver structures of DPDK's driver SDK (`bus_pci_driver.h`,
//! `dev_driver.h`): `rte_pci_device`, `rte_pci_driver`, `rte_device`,
//! `rte_driver`, and `rte_pci_register`/`rte_pci_unregister`.
//!
//! Where the DPDK found by pkg-config installs the driver SDK headers, bindgen
//! generates these from them. Distributions build DPDK without
//! `-Denable_driver_sdk=true`, so there the structures are declared by hand,
//! field by field, for the releases listed in the build script's `features`
//! module (22.11 and 24.11, whose upstream headers declare these structures
//! alike); `tests/driver_layout.rs` compares size, alignment and every field
//! offset with the real headers of the distribution's source package, on x86_64
//! and i686: on every CI run for 22.11, and for 24.11 only where its headers are
//! given (see the build script's `features` module).

/// `PCI_PRI_STR_SIZE`: `sizeof("XXXXXXXX:XX:XX.X")`.
pub const PCI_PRI_STR_SIZE: usize = 17;

/// The driver needs its BARs mapped before probe.
pub const RTE_PCI_DRV_NEED_MAPPING: u32 = 0x0001;
/// Map BARs write-combined where the BAR is prefetchable.
pub const RTE_PCI_DRV_WC_ACTIVATE: u32 = 0x0002;
/// Probe again a device that is already probed.
pub const RTE_PCI_DRV_PROBE_AGAIN: u32 = 0x0004;
/// `RTE_PCI_KDRV_VFIO` of `enum rte_pci_kernel_driver`: the device is bound to
/// vfio-pci (the value of `rte_pci_device::kdrv`).
pub const RTE_PCI_KDRV_VFIO: u32 = 2;

/// Link-state-change interrupt supported.
pub const RTE_PCI_DRV_INTR_LSC: u32 = 0x0008;
/// Device-removal interrupt supported.
pub const RTE_PCI_DRV_INTR_RMV: u32 = 0x0010;

#[cfg(dpdk_driver_sdk_bindgen)]
include!(concat!(env!("OUT_DIR"), "/pci_driver_sdk.rs"));

#[cfg(not(dpdk_driver_sdk_bindgen))]
pub use by_hand::*;

/// The 22.11/24.11 layouts, for DPDK builds without the driver SDK headers.
#[cfg(not(dpdk_driver_sdk_bindgen))]
mod by_hand {
    use std::os::raw::{c_char, c_int, c_void};

    use super::PCI_PRI_STR_SIZE;
    use crate::{
        rte_bus, rte_devargs, rte_intr_handle, rte_mem_resource, rte_pci_addr, rte_pci_id,
    };

    /// `RTE_TAILQ_ENTRY(T)`: `{ T *tqe_next; T **tqe_prev; }`.
    #[repr(C)]
    #[derive(Debug, Clone, Copy)]
    pub struct TailqEntry<T> {
        /// The next entry of the list, or null for the last one.
        pub tqe_next: *mut T,
        /// The previous entry's `tqe_next` (or the list head's first-entry pointer).
        pub tqe_prev: *mut *mut T,
    }

    /// `struct rte_driver` (dev_driver.h).
    #[repr(C)]
    #[derive(Debug, Clone, Copy)]
    pub struct rte_driver {
        /// The bus's list of drivers.
        pub next: TailqEntry<rte_driver>,
        /// The driver's name (NUL-terminated).
        pub name: *const c_char,
        /// Another name the driver answers to, or null.
        pub alias: *const c_char,
    }

    /// `struct rte_device` (dev_driver.h).
    #[repr(C)]
    #[derive(Debug, Clone, Copy)]
    pub struct rte_device {
        /// The bus's list of devices.
        pub next: TailqEntry<rte_device>,
        /// The device's name (NUL-terminated; for PCI, its address).
        pub name: *const c_char,
        /// Bus-specific description of the device, or null.
        pub bus_info: *const c_char,
        /// The driver bound to the device, or null while unprobed.
        pub driver: *const rte_driver,
        /// The bus the device sits on.
        pub bus: *const rte_bus,
        /// The NUMA node of the device, or -1 (`SOCKET_ID_ANY`) when unknown.
        pub numa_node: c_int,
        /// The device's arguments (allow/block list, options), or null.
        pub devargs: *mut rte_devargs,
    }

    /// `struct rte_pci_device` (bus_pci_driver.h).
    #[repr(C)]
    #[derive(Debug, Clone, Copy)]
    pub struct rte_pci_device {
        /// The PCI bus's list of devices.
        pub next: TailqEntry<rte_pci_device>,
        /// The generic device this PCI device extends.
        pub device: rte_device,
        /// The PCI address (domain:bus:devid.function).
        pub addr: rte_pci_addr,
        /// Vendor, device and subsystem IDs and class.
        pub id: rte_pci_id,
        /// BAR 0..5: physical address, length and mapping (`addr` null if unmapped).
        pub mem_resource: [rte_mem_resource; 6],
        /// The device's interrupt handle.
        pub intr_handle: *mut rte_intr_handle,
        /// The PCI driver that probed the device, or null.
        pub driver: *mut rte_pci_driver,
        /// Number of SR-IOV virtual functions enabled (sysfs `max_vfs` or `sriov_numvfs`; 0 for none).
        pub max_vfs: u16,
        /// `enum rte_pci_kernel_driver`.
        pub kdrv: u32,
        /// The PCI address as text (`DDDD:BB:DD.F`), NUL-terminated.
        pub name: [c_char; PCI_PRI_STR_SIZE + 1],
        /// Bus-specific text about the device, or null.
        pub bus_info: *mut c_char,
        /// Interrupt handle of the VFIO device request (hot-unplug) eventfd.
        pub vfio_req_intr_handle: *mut rte_intr_handle,
    }

    /// Called by the PCI bus to probe a device matching the driver's ID table; 0 on success, a negative errno on failure.
    pub type rte_pci_probe_t =
        unsafe extern "C" fn(*mut rte_pci_driver, *mut rte_pci_device) -> c_int;
    /// Called by the PCI bus to remove (detach) a device; 0 on success, a negative errno on failure.
    pub type rte_pci_remove_t = unsafe extern "C" fn(*mut rte_pci_device) -> c_int;
    /// Maps (or unmaps) `len` bytes at virtual address `addr` to IOVA `iova` for the device; 0 or a negative errno.
    pub type pci_dma_map_t =
        unsafe extern "C" fn(*mut rte_pci_device, *mut c_void, u64, usize) -> c_int;

    /// `struct rte_pci_driver` (bus_pci_driver.h).
    #[repr(C)]
    #[derive(Debug, Clone, Copy)]
    pub struct rte_pci_driver {
        /// The PCI bus's list of drivers.
        pub next: TailqEntry<rte_pci_driver>,
        /// The generic driver this PCI driver extends.
        pub driver: rte_driver,
        /// Probe callback, or `None` for none.
        pub probe: Option<rte_pci_probe_t>,
        /// Remove callback, or `None` for none.
        pub remove: Option<rte_pci_remove_t>,
        /// DMA map callback, or `None` to let the bus fall back to VFIO mapping.
        pub dma_map: Option<pci_dma_map_t>,
        /// DMA unmap callback, or `None` to let the bus fall back to VFIO unmapping.
        pub dma_unmap: Option<pci_dma_map_t>,
        /// Terminated by an entry whose `vendor_id` is 0.
        pub id_table: *const rte_pci_id,
        /// `RTE_PCI_DRV_*` flags (needs mapping, write-combining, interrupts...).
        pub drv_flags: u32,
    }

    extern "C" {
        /// Adds a driver to the PCI bus (internal ABI of librte_bus_pci).
        pub fn rte_pci_register(driver: *mut rte_pci_driver);
        /// Removes a driver from the PCI bus (internal ABI of librte_bus_pci).
        pub fn rte_pci_unregister(driver: *mut rte_pci_driver);
    }
}
