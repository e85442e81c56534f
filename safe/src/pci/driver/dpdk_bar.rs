//! A BAR of a device DPDK probed, read and written through DPDK's own handle on
//! the device, on every target (32-bit included, and for BARs DPDK did not map).
//!
//! The one version difference of this crate's PCI code lives here:
//! - DPDK 23.07 and later (cfg `dpdk_pci_mmio`, detected by `dpdk-sys`):
//!   `rte_pci_mmio_read`/`rte_pci_mmio_write`, which work for devices bound to
//!   vfio-pci and to the UIO drivers alike.
//! - DPDK 22.11: no such calls. The fallback reads and writes the VFIO device
//!   file DPDK opened (`rte_intr_dev_fd_get` on the device's interrupt handle)
//!   with `pread64`/`pwrite64` at the region offset the kernel reports, which is
//!   what the newer DPDK does for vfio-pci devices; devices on UIO drivers get
//!   [`DpdkBarError::NotVfio`].
//!
//! Both paths take 64-bit offsets end to end.

use std::marker::PhantomData;
use std::os::fd::BorrowedFd;

use dpdk_sys::pci_driver_sdk as sdk;

use crate::io::error::AccessError;
use crate::io::region::{BarIndex, RegionIndex};
use crate::io::register::{Register, Registers};
use crate::io::window::{self, RawAccess, Window};
use crate::pci::address::PciAddress;

/// Why a BAR of a probed device cannot be reached.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DpdkBarError {
    /// DPDK recorded no size for the BAR: the device does not implement it.
    #[error("{address}: {index} is not implemented (size 0)")]
    Empty {
        /// The device.
        address: PciAddress,
        /// The BAR.
        index: BarIndex,
    },
    /// Before 23.07 only vfio-pci devices can be reached.
    #[error("{address} is not bound to vfio-pci, and DPDK before 23.07 has no rte_pci_mmio_read to reach it otherwise")]
    NotVfio {
        /// The device.
        address: PciAddress,
    },
    /// The driver was registered without `NEED_MAPPING`.
    #[error(
        "{address}: DPDK holds no device file for it: DPDK opens one only for drivers \
         registered with DriverFlags::NEED_MAPPING"
    )]
    NoDeviceFile {
        /// The device.
        address: PciAddress,
    },
    /// The kernel's description of the BAR could not be had.
    #[error("{address}: {source}")]
    RegionInfo {
        /// The device.
        address: PciAddress,
        /// What failed.
        source: crate::vfio::region::RegionInfoError,
    },
}

/// BAR registers of a probed device through DPDK; see the module documentation.
/// Borrows the [`ProbedDevice`](crate::ProbedDevice) it came from.
pub struct DpdkBar<'a> {
    window: Window,
    backend: Backend<'a>,
}

#[cfg(dpdk_pci_mmio)]
struct Backend<'a> {
    device: *const dpdk_sys::rte_pci_device,
    bar: BarIndex,
    _device: PhantomData<&'a sdk::rte_pci_device>,
}

#[cfg(not(dpdk_pci_mmio))]
struct Backend<'a> {
    io: crate::io::file::RegionIo<'a>,
    _device: PhantomData<&'a sdk::rte_pci_device>,
}

impl<'a> DpdkBar<'a> {
    /// # Safety
    /// `device` is a device DPDK probed, live and unchanged for `'a`.
    /// `opened`: whether DPDK opened the device's file (a driver with
    /// `NEED_MAPPING`); without it there is nothing to reach the BAR through.
    pub(crate) unsafe fn new(
        device: &'a sdk::rte_pci_device,
        index: BarIndex,
        opened: bool,
        address: PciAddress,
    ) -> Result<Self, DpdkBarError> {
        let size = device.mem_resource[index.as_usize()].len;
        if size == 0 {
            return Err(DpdkBarError::Empty { address, index });
        }
        if !opened {
            return Err(DpdkBarError::NoDeviceFile { address });
        }
        Backend::open(device, index, size, address)
    }

    /// What may be accessed: the BAR's size and permissions.
    pub fn window(&self) -> &Window {
        &self.window
    }

    /// Fills `buf` from `offset` on.
    pub fn read_bytes(&self, offset: u64, buf: &mut [u8]) -> Result<(), AccessError> {
        window::read_bytes(self, offset, buf)
    }

    /// Writes `buf` at `offset`.
    pub fn write_bytes(&self, offset: u64, buf: &[u8]) -> Result<(), AccessError> {
        window::write_bytes(self, offset, buf)
    }
}

impl RawAccess for DpdkBar<'_> {
    fn window(&self) -> &Window {
        &self.window
    }

    fn read_raw(&self, offset: u64, buf: &mut [u8]) -> Result<(), AccessError> {
        self.backend.read(offset, buf)
    }

    fn write_raw(&self, offset: u64, buf: &[u8]) -> Result<(), AccessError> {
        self.backend.write(offset, buf)
    }
}

impl Registers for DpdkBar<'_> {
    fn read<T: Register>(&self, offset: u64) -> Result<T, AccessError> {
        window::read_register(self, offset)
    }

    fn write<T: Register>(&self, offset: u64, value: T) -> Result<(), AccessError> {
        window::write_register(self, offset, value)
    }
}

/// The VFIO device file DPDK opened for a device it probed, borrowed for as
/// long as the device is; `None` unless the device is bound to vfio-pci and
/// DPDK holds a file for it (drivers with `NEED_MAPPING`).
#[cfg_attr(all(dpdk_pci_mmio, not(target_pointer_width = "64")), allow(dead_code))]
pub(crate) fn vfio_device_file(device: &sdk::rte_pci_device) -> Option<BorrowedFd<'_>> {
    if device.kdrv != sdk::RTE_PCI_KDRV_VFIO {
        return None;
    }
    // SAFETY: the interrupt handle belongs to the live device (borrowed); the
    // call only reads it and reports an error (-1) for a NULL handle or one
    // without a file.
    let fd = unsafe { dpdk_sys::rte_intr_dev_fd_get(device.intr_handle.cast()) };
    if fd < 0 {
        return None;
    }
    // SAFETY: DPDK keeps the VFIO device file of a probed device open until it
    // removes the device, which cannot happen while `device` is borrowed (a
    // callback's device); the borrow never closes it.
    Some(unsafe { BorrowedFd::borrow_raw(fd) })
}

#[cfg(dpdk_pci_mmio)]
impl<'a> Backend<'a> {
    fn open(
        device: &'a sdk::rte_pci_device,
        index: BarIndex,
        size: u64,
        _address: PciAddress,
    ) -> Result<DpdkBar<'a>, DpdkBarError> {
        // DPDK checks bounds against the size it learnt from the kernel; ours
        // come from the same sysfs resource file, so both agree.
        let window = Window::new(RegionIndex::Bar(index), size, true, true);
        let backend = Backend {
            device: (device as *const sdk::rte_pci_device).cast(),
            bar: index,
            _device: PhantomData,
        };
        Ok(DpdkBar { window, backend })
    }

    fn read(&self, offset: u64, buf: &mut [u8]) -> Result<(), AccessError> {
        let at = self.offset(offset)?;
        // SAFETY: `device` is live for 'a (DpdkBar::new's contract); `buf` is a
        // writable slice of buf.len() bytes; DPDK's off_t is 64 bits wide on
        // every target (dpdk-sys builds with _FILE_OFFSET_BITS=64, as DPDK is).
        let n = unsafe {
            dpdk_sys::rte_pci_mmio_read(
                self.device,
                std::os::raw::c_int::from(self.bar.get()),
                buf.as_mut_ptr().cast(),
                buf.len(),
                at,
            )
        };
        self.whole("read", offset, n, buf.len())
    }

    fn write(&self, offset: u64, buf: &[u8]) -> Result<(), AccessError> {
        let at = self.offset(offset)?;
        // SAFETY: as in `read`; `buf` is a readable slice of buf.len() bytes.
        let n = unsafe {
            dpdk_sys::rte_pci_mmio_write(
                self.device,
                std::os::raw::c_int::from(self.bar.get()),
                buf.as_ptr().cast(),
                buf.len(),
                at,
            )
        };
        self.whole("write", offset, n, buf.len())
    }

    fn offset(&self, offset: u64) -> Result<dpdk_sys::off_t, AccessError> {
        dpdk_sys::off_t::try_from(offset).map_err(|_| AccessError::OffsetOverflow {
            region: RegionIndex::Bar(self.bar),
            offset,
        })
    }

    /// DPDK returns the bytes transferred, or a negative value on failure.
    fn whole(
        &self,
        op: &'static str,
        offset: u64,
        done: std::os::raw::c_int,
        wanted: usize,
    ) -> Result<(), AccessError> {
        let region = RegionIndex::Bar(self.bar);
        match usize::try_from(done) {
            Ok(n) if n == wanted => Ok(()),
            Ok(n) => Err(AccessError::Short {
                region,
                op,
                offset,
                done: n,
                wanted,
            }),
            Err(_) => Err(AccessError::Io {
                region,
                op,
                offset,
                source: std::io::Error::other(format!(
                    "rte_pci_mmio_{op} failed (DPDK's log says why)"
                )),
            }),
        }
    }
}

#[cfg(not(dpdk_pci_mmio))]
impl<'a> Backend<'a> {
    fn open(
        device: &'a sdk::rte_pci_device,
        index: BarIndex,
        _size: u64,
        address: PciAddress,
    ) -> Result<DpdkBar<'a>, DpdkBarError> {
        if device.kdrv != sdk::RTE_PCI_KDRV_VFIO {
            return Err(DpdkBarError::NotVfio { address });
        }
        let fd = vfio_device_file(device).ok_or(DpdkBarError::NoDeviceFile { address })?;
        let info = crate::vfio::region::region_info(fd, RegionIndex::Bar(index))
            .map_err(|source| DpdkBarError::RegionInfo { address, source })?;
        let window = info.window();
        let io = crate::io::file::RegionIo::new(fd, window, info.offset);
        Ok(DpdkBar {
            window,
            backend: Backend {
                io,
                _device: PhantomData,
            },
        })
    }

    // Checked by DpdkBar's window (the same as the RegionIo's) already.
    fn read(&self, offset: u64, buf: &mut [u8]) -> Result<(), AccessError> {
        self.io.read_raw(offset, buf)
    }

    fn write(&self, offset: u64, buf: &[u8]) -> Result<(), AccessError> {
        self.io.write_raw(offset, buf)
    }
}
