//! PCI devices: addresses, what sysfs says about them, DPDK's PCI bus, and PCI
//! drivers written in Rust. Every item is re-exported at the crate root.

pub(crate) mod address;
pub(crate) mod bus;
pub(crate) mod devbind;
#[cfg(dpdk_pci_driver)]
pub(crate) mod driver;
pub(crate) mod interrupt;
pub(crate) mod sysfs;
