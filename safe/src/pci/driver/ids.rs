//! A driver's ID table entries and its registration flags.

use dpdk_sys::pci_driver_sdk as sdk;

use crate::pci::sysfs::PciClass;

/// `PCI_ANY_ID`: matches any vendor, device or subsystem ID.
pub const ANY_ID: u16 = 0xffff;
/// `RTE_CLASS_ANY_ID`: what DPDK's table holds for a pattern without a class.
pub(crate) const ANY_CLASS: u32 = 0x00ff_ffff;

/// One entry of a driver's ID table: a pattern devices' IDs
/// ([`PciDeviceIds`](crate::PciDeviceIds)) are matched against. Fields left at
/// their wildcards ([`ANY_ID`]; `None` for the class) match anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PciIdPattern {
    /// Vendor ID, or [`ANY_ID`].
    pub vendor: u16,
    /// Device ID, or [`ANY_ID`].
    pub device: u16,
    /// Subsystem vendor ID, or [`ANY_ID`].
    pub subsystem_vendor: u16,
    /// Subsystem device ID, or [`ANY_ID`].
    pub subsystem_device: u16,
    /// Class code; `None` matches any.
    pub class: Option<PciClass>,
}

impl PciIdPattern {
    /// Matches `vendor:device` with any subsystem and class.
    pub const fn new(vendor: u16, device: u16) -> Self {
        PciIdPattern {
            vendor,
            device,
            subsystem_vendor: ANY_ID,
            subsystem_device: ANY_ID,
            class: None,
        }
    }

    /// Matches only this subsystem.
    pub const fn subsystem(mut self, vendor: u16, device: u16) -> Self {
        self.subsystem_vendor = vendor;
        self.subsystem_device = device;
        self
    }

    /// Matches only this class code.
    pub const fn class(mut self, class: PciClass) -> Self {
        self.class = Some(class);
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

    /// No flag.
    pub const fn empty() -> Self {
        DriverFlags(0)
    }

    /// Both sets of flags.
    pub const fn union(self, other: DriverFlags) -> Self {
        DriverFlags(self.0 | other.0)
    }

    /// DPDK's `RTE_PCI_DRV_*` bits.
    pub const fn bits(self) -> u32 {
        self.0
    }
}
