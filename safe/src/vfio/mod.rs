//! VFIO: a PCI device's regions (config space, BARs, ROM) from user space.

pub mod device;

pub use device::{OpenError, VfioDevice};
