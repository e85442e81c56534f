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

use crate::vfio::access::{check_span, AccessError, Register, Registers};
use crate::vfio::{RegionIndex, RegionInfo};

/// Why a BAR of a probed device cannot be reached.
#[derive(Debug, thiserror::Error)]
pub enum DpdkBarError {
    #[error("BAR {0} does not exist: PCI devices have BARs 0 to 5")]
    NoSuchBar(u8),
    #[error("{address}: BAR {index} is not implemented (size 0)")]
    Empty { address: String, index: u8 },
    #[error("{address} is not bound to vfio-pci, and DPDK before 23.07 has no rte_pci_mmio_read to reach it otherwise")]
    NotVfio { address: String },
    #[error(
        "{address}: DPDK holds no device file for it: DPDK opens one only for drivers \
         registered with DriverFlags::NEED_MAPPING"
    )]
    NoDeviceFile { address: String },
    #[error("{address}: {source}")]
    RegionInfo {
        address: String,
        source: crate::vfio::RegionInfoError,
    },
}

/// BAR registers of a probed device through DPDK; see the module documentation.
/// Borrows the [`ProbedDevice`](super::driver::ProbedDevice) it came from.
pub struct DpdkBar<'a> {
    info: RegionInfo,
    backend: Backend<'a>,
}

#[cfg(dpdk_pci_mmio)]
struct Backend<'a> {
    device: *const dpdk_sys::rte_pci_device,
    _device: PhantomData<&'a sdk::rte_pci_device>,
}

#[cfg(not(dpdk_pci_mmio))]
struct Backend<'a> {
    io: crate::vfio::RegionIo<'a>,
    _device: PhantomData<&'a sdk::rte_pci_device>,
}

impl<'a> DpdkBar<'a> {
    /// # Safety
    /// `device` is a device DPDK probed, live and unchanged for `'a`.
    /// `opened`: whether DPDK opened the device's file (a driver with
    /// `NEED_MAPPING`); without it there is nothing to reach the BAR through.
    pub(crate) unsafe fn new(
        device: &'a sdk::rte_pci_device,
        index: u8,
        opened: bool,
        address: impl Fn() -> String,
    ) -> Result<Self, DpdkBarError> {
        let region =
            RegionIndex::bar(u32::from(index)).map_err(|_| DpdkBarError::NoSuchBar(index))?;
        let size = device.mem_resource[usize::from(index)].len;
        if size == 0 {
            return Err(DpdkBarError::Empty {
                address: address(),
                index,
            });
        }
        if !opened {
            return Err(DpdkBarError::NoDeviceFile { address: address() });
        }
        Backend::open(device, region, size, address)
    }

    pub fn info(&self) -> &RegionInfo {
        &self.info
    }

    /// Fills `buf` from `offset` on.
    pub fn read_bytes(&self, offset: u64, buf: &mut [u8]) -> Result<(), AccessError> {
        check_span(&self.info, offset, buf.len() as u64, false)?;
        self.backend.read(&self.info, offset, buf)
    }

    /// Writes `buf` at `offset`.
    pub fn write_bytes(&self, offset: u64, buf: &[u8]) -> Result<(), AccessError> {
        check_span(&self.info, offset, buf.len() as u64, false)?;
        self.backend.write(&self.info, offset, buf)
    }
}

impl Registers for DpdkBar<'_> {
    fn read<T: Register>(&self, offset: u64) -> Result<T, AccessError> {
        check_span(&self.info, offset, T::WIDTH as u64, true)?;
        let mut buf = [0u8; 8];
        self.backend
            .read(&self.info, offset, &mut buf[..T::WIDTH])?;
        Ok(T::from_le_slice(&buf[..T::WIDTH]))
    }

    fn write<T: Register>(&self, offset: u64, value: T) -> Result<(), AccessError> {
        check_span(&self.info, offset, T::WIDTH as u64, true)?;
        let mut buf = [0u8; 8];
        value.write_le(&mut buf[..T::WIDTH]);
        self.backend.write(&self.info, offset, &buf[..T::WIDTH])
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
        index: RegionIndex,
        size: u64,
        _address: impl Fn() -> String,
    ) -> Result<DpdkBar<'a>, DpdkBarError> {
        // DPDK checks bounds against the size it learnt from the kernel; ours
        // come from the same sysfs resource file, so both agree.
        let info = RegionInfo {
            index,
            offset: 0,
            size,
            flags: crate::vfio::RegionFlags {
                readable: true,
                writable: true,
                mmap: false,
            },
            sparse_mmap: None,
            msix_mappable: false,
            caps: Vec::new(),
        };
        let backend = Backend {
            device: (device as *const sdk::rte_pci_device).cast(),
            _device: PhantomData,
        };
        Ok(DpdkBar { info, backend })
    }

    fn bar(info: &RegionInfo) -> std::os::raw::c_int {
        // Bar(0..=5) by construction.
        info.index.as_u32() as std::os::raw::c_int
    }

    fn read(&self, info: &RegionInfo, offset: u64, buf: &mut [u8]) -> Result<(), AccessError> {
        let at = Self::offset(info, offset)?;
        // SAFETY: `device` is live for 'a (DpdkBar::new's contract); `buf` is a
        // writable slice of buf.len() bytes; DPDK's off_t is 64 bits wide on
        // every target (dpdk-sys builds with _FILE_OFFSET_BITS=64, as DPDK is).
        let n = unsafe {
            dpdk_sys::rte_pci_mmio_read(
                self.device,
                Self::bar(info),
                buf.as_mut_ptr().cast(),
                buf.len(),
                at,
            )
        };
        whole(info, "read", offset, n, buf.len())
    }

    fn write(&self, info: &RegionInfo, offset: u64, buf: &[u8]) -> Result<(), AccessError> {
        let at = Self::offset(info, offset)?;
        // SAFETY: as in `read`; `buf` is a readable slice of buf.len() bytes.
        let n = unsafe {
            dpdk_sys::rte_pci_mmio_write(
                self.device,
                Self::bar(info),
                buf.as_ptr().cast(),
                buf.len(),
                at,
            )
        };
        whole(info, "write", offset, n, buf.len())
    }

    fn offset(info: &RegionInfo, offset: u64) -> Result<dpdk_sys::off_t, AccessError> {
        dpdk_sys::off_t::try_from(offset).map_err(|_| AccessError::OffsetOverflow {
            region: info.index,
            offset,
        })
    }
}

/// DPDK returns the bytes transferred, or a negative value on failure.
#[cfg(dpdk_pci_mmio)]
fn whole(
    info: &RegionInfo,
    op: &'static str,
    offset: u64,
    done: std::os::raw::c_int,
    wanted: usize,
) -> Result<(), AccessError> {
    match usize::try_from(done) {
        Ok(n) if n == wanted => Ok(()),
        Ok(n) => Err(AccessError::Short {
            region: info.index,
            op,
            offset,
            done: n,
            wanted,
        }),
        Err(_) => Err(AccessError::Io {
            region: info.index,
            op,
            offset,
            source: std::io::Error::other(format!(
                "rte_pci_mmio_{op} failed (DPDK's log says why)"
            )),
        }),
    }
}

#[cfg(not(dpdk_pci_mmio))]
impl<'a> Backend<'a> {
    fn open(
        device: &'a sdk::rte_pci_device,
        index: RegionIndex,
        _size: u64,
        address: impl Fn() -> String,
    ) -> Result<DpdkBar<'a>, DpdkBarError> {
        if device.kdrv != sdk::RTE_PCI_KDRV_VFIO {
            return Err(DpdkBarError::NotVfio { address: address() });
        }
        let fd = vfio_device_file(device)
            .ok_or_else(|| DpdkBarError::NoDeviceFile { address: address() })?;
        let info = crate::vfio::region::region_info(fd, index).map_err(|source| {
            DpdkBarError::RegionInfo {
                address: address(),
                source,
            }
        })?;
        let io = crate::vfio::RegionIo::new(fd, info.clone());
        Ok(DpdkBar {
            info,
            backend: Backend {
                io,
                _device: PhantomData,
            },
        })
    }

    fn read(&self, _info: &RegionInfo, offset: u64, buf: &mut [u8]) -> Result<(), AccessError> {
        self.io.read_bytes(offset, buf)
    }

    fn write(&self, _info: &RegionInfo, offset: u64, buf: &[u8]) -> Result<(), AccessError> {
        self.io.write_bytes(offset, buf)
    }
}
