//! Interrupts of a device DPDK probed for a Rust driver, through the interrupt
//! handle DPDK made for it.
//!
//! When DPDK maps a vfio-pci device for a driver (`NEED_MAPPING`) it picks one
//! interrupt kind (MSI-X when vfio-pci offers it, else MSI, else INTx; or the
//! EAL's `--vfio-intr`, [`EalBuilder::vfio_interrupt_kind`](crate::EalBuilder::vfio_interrupt_kind)),
//! makes an eventfd for vector 0 and keeps both in the device's
//! `rte_intr_handle`, with the VFIO file it opened. DPDK owns that handle, so
//! the vectors are enabled through it: `rte_intr_efd_enable` adds an eventfd
//! per further MSI-X vector, `rte_intr_enable` registers them all with the
//! kernel, `rte_intr_disable` and `rte_intr_efd_disable` undo both. The
//! [`Interrupts`] returned waits on duplicates of DPDK's eventfds, so a removal
//! that makes DPDK close its own never leaves it reading a reused descriptor;
//! masking and loopback use DPDK's VFIO file, under the bound handle, like
//! every other access to the device.

use std::io;
use std::os::fd::{BorrowedFd, FromRawFd, OwnedFd};

use crate::errno::DpdkErrno;
use crate::pci::driver::bound::BoundDevice;
use crate::pci::driver::probed::ProbedDevice;
use crate::pci::interrupt::IrqKind;
use crate::vfio::irq::{checked_request, Claim, DpdkDeviceFile, Interrupts, IrqError};

/// The most vectors DPDK's handle takes: vector 0 and one eventfd per vector
/// up to `RTE_MAX_RXTX_INTR_VEC_ID` (DPDK cuts a larger request silently).
const MAX_VECTORS: u32 = dpdk_sys::RTE_MAX_RXTX_INTR_VEC_ID + 1;

impl BoundDevice {
    /// Enables vectors `0..vectors` of the interrupt kind DPDK set up for the
    /// device, each signalling its own eventfd, through DPDK's interrupt
    /// handle. Disabled when the returned value is dropped.
    ///
    /// Several vectors need MSI-X; the kind is DPDK's choice
    /// ([`Interrupts::kind`] says which). Errors: the device is gone
    /// ([`IrqError::Revoked`]), DPDK set up no VFIO interrupts (a driver
    /// without `NEED_MAPPING`, or a UIO device: [`IrqError::NotSetUp`]), DPDK
    /// chose a kind the device does not have ([`IrqError::KindMissing`]: edu,
    /// for one, has MSI and no MSI-X), 0 or too many vectors, interrupts
    /// already enabled for the device in this process.
    ///
    /// After DPDK removed the device every call on the value is
    /// [`IrqError::Revoked`]; dropping it then leaves the clean-up to DPDK's
    /// removal (which disables the vectors with the device). Drop it in the
    /// driver's `remove` to give DPDK its eventfds back first.
    pub fn enable_interrupts(&self, vectors: u32) -> Result<Interrupts<'static>, IrqError> {
        let address = self.address();
        self.with(|device| enable(self, device, vectors))
            .map_err(|_| IrqError::Revoked { address })?
    }
}

/// DPDK's interrupt handle of `device`: set at probe, freed with the device.
fn handle_of(device: &ProbedDevice<'_>) -> *mut dpdk_sys::rte_intr_handle {
    // SAFETY: `raw` is DPDK's live device while `device` exists (it is lent
    // for a callback or by `BoundDevice::with`); reading one field.
    unsafe { (*device.raw()).intr_handle }
}

/// The kind DPDK set up in `handle`, or `None` when it is no VFIO kind.
fn kind_of(handle_type: dpdk_sys::rte_intr_handle_type) -> Option<IrqKind> {
    match handle_type {
        dpdk_sys::rte_intr_handle_type_RTE_INTR_HANDLE_VFIO_MSIX => Some(IrqKind::Msix),
        dpdk_sys::rte_intr_handle_type_RTE_INTR_HANDLE_VFIO_MSI => Some(IrqKind::Msi),
        dpdk_sys::rte_intr_handle_type_RTE_INTR_HANDLE_VFIO_LEGACY => Some(IrqKind::Intx),
        _ => None,
    }
}

fn enable(
    bound: &BoundDevice,
    device: &ProbedDevice<'_>,
    vectors: u32,
) -> Result<Interrupts<'static>, IrqError> {
    let address = device.address();
    let handle = handle_of(device);
    if handle.is_null() || !device.opened_by_dpdk() {
        return Err(IrqError::NotSetUp {
            address,
            handle_type: -1,
        });
    }
    // SAFETY: `handle` is DPDK's live handle of the live device (above); the
    // getters only read it.
    let (handle_type, file) = unsafe {
        (
            dpdk_sys::rte_intr_type_get(handle),
            dpdk_sys::rte_intr_dev_fd_get(handle),
        )
    };
    let kind = match kind_of(handle_type) {
        Some(kind) if file >= 0 => kind,
        _ => {
            return Err(IrqError::NotSetUp {
                address,
                handle_type: handle_type as i32,
            })
        }
    };
    // SAFETY: the VFIO file DPDK opened for the device stays open until DPDK
    // unmaps it on removal, which waits for the `with` this runs in.
    let file = unsafe { BorrowedFd::borrow_raw(file) };
    // DPDK enables one MSI or INTx vector whatever it is asked.
    let available = |info: &dpdk_sys::vfio_irq_info| match kind {
        IrqKind::Msix => info.count.min(MAX_VECTORS),
        _ => 1,
    };
    let info = checked_request(
        file,
        address,
        kind,
        vectors,
        |info| IrqError::KindMissing {
            address,
            kind,
            count: info.count,
        },
        available,
    )?;
    let claim = Claim::take(address)?;
    let dpdk = DpdkHandle {
        device: bound.clone(),
        extra_eventfds: vectors > 1,
    };
    let failed = |call: &'static str, why: String| IrqError::Dpdk {
        address,
        kind,
        call,
        why,
    };
    if dpdk.extra_eventfds {
        // SAFETY: live handle (above); DPDK makes `vectors - 1` eventfds and
        // keeps them in the handle, which `rte_intr_efd_disable` closes.
        let ret = unsafe { dpdk_sys::rte_intr_efd_enable(handle, vectors - 1) };
        if ret < 0 {
            // SAFETY: as above; undoes what the failed call kept.
            unsafe { dpdk_sys::rte_intr_efd_disable(handle) };
            return Err(failed(
                "rte_intr_efd_enable",
                DpdkErrno::new(ret).to_string(),
            ));
        }
    }
    // SAFETY: live handle of a device bound to vfio-pci, with the eventfds DPDK
    // made for it; DPDK issues VFIO_DEVICE_SET_IRQS on its own file.
    if unsafe { dpdk_sys::rte_intr_enable(handle) } < 0 {
        dpdk.disable_now(handle);
        return Err(failed(
            "rte_intr_enable",
            "DPDK's log holds the kernel's error".to_owned(),
        ));
    }
    let events = (0..vectors)
        .map(|vector| {
            // SAFETY: live handle; vector 0 is the handle's own eventfd, the
            // others the ones `rte_intr_efd_enable` made, by index.
            let fd = unsafe {
                if vector == 0 {
                    dpdk_sys::rte_intr_fd_get(handle)
                } else {
                    dpdk_sys::rte_intr_efds_index_get(handle, (vector - 1) as i32)
                }
            };
            duplicate(fd)
        })
        .collect::<io::Result<Vec<_>>>();
    let events = match events {
        Ok(events) => events,
        Err(source) => {
            dpdk.disable_now(handle);
            return Err(IrqError::Duplicate { address, source });
        }
    };
    Ok(Interrupts::from_dpdk(
        Box::new(dpdk),
        address,
        kind,
        &dpdk_sys::vfio_irq_info {
            count: available(&info),
            ..info
        },
        events,
        claim,
    ))
}

/// A close-on-exec duplicate of `fd` that this process owns.
fn duplicate(fd: i32) -> io::Result<OwnedFd> {
    if fd < 0 {
        return Err(io::Error::from_raw_os_error(libc::EBADF));
    }
    // SAFETY: F_DUPFD_CLOEXEC takes an integer and makes a new descriptor;
    // `fd` is DPDK's open eventfd (the caller runs inside `BoundDevice::with`).
    let new = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
    if new < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `new` is a fresh descriptor nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(new) })
}

/// DPDK's interrupt handle and VFIO file of a bound device, as the
/// [`Interrupts`] it enabled reaches them.
#[derive(Debug)]
struct DpdkHandle {
    device: BoundDevice,
    /// Whether `rte_intr_efd_enable` made eventfds beyond vector 0's.
    extra_eventfds: bool,
}

impl DpdkHandle {
    /// Disables the vectors and closes DPDK's extra eventfds.
    fn disable_now(&self, handle: *mut dpdk_sys::rte_intr_handle) {
        // SAFETY: the caller holds the device (inside `BoundDevice::with`), so
        // `handle` is DPDK's live handle. Both calls tolerate vectors that are
        // not enabled.
        unsafe {
            dpdk_sys::rte_intr_disable(handle);
            if self.extra_eventfds {
                dpdk_sys::rte_intr_efd_disable(handle);
            }
        }
    }
}

impl DpdkDeviceFile for DpdkHandle {
    fn with_file(
        &self,
        f: &mut dyn FnMut(BorrowedFd<'_>) -> io::Result<()>,
    ) -> Option<io::Result<()>> {
        self.device
            .with(|device| {
                let handle = handle_of(device);
                // SAFETY: `with` holds the device on the bus, so its handle and
                // the VFIO file DPDK opened (checked at enable) are live; the
                // borrow ends with the closure.
                let file = unsafe { BorrowedFd::borrow_raw(dpdk_sys::rte_intr_dev_fd_get(handle)) };
                f(file)
            })
            .ok()
    }

    fn disable(&self) {
        let _ = self
            .device
            .with(|device| self.disable_now(handle_of(device)));
    }

    fn is_removed(&self) -> bool {
        self.device.is_revoked()
    }
}

// The raw pointer is only read inside `BoundDevice::with`; the handle type is
// Send + Sync through BoundDevice.
const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<DpdkHandle>();
};
