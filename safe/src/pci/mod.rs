//! PCI devices: addresses, what sysfs says about them, and DPDK's PCI bus.

pub mod address;
pub mod bus;
pub mod devbind;
#[cfg(dpdk_pci_driver)]
pub mod dpdk_bar;
#[cfg(dpdk_pci_driver)]
pub mod driver;
pub mod sysfs;

pub use address::{AddressErrorKind, AddressField, ParseAddressError, PciAddress};
pub use bus::{DeviceError, NamedPciDevices, PciDevice, PciDevices};
pub use sysfs::*;
