//! Device interrupts through VFIO eventfds: INTx, MSI and MSI-X.
//!
//! vfio-pci turns each interrupt vector of a device into an eventfd that the
//! process registers with `VFIO_DEVICE_SET_IRQS`; the kernel signals it when
//! the device raises the vector. [`VfioDevice::enable_interrupts`] asks the
//! kernel how many vectors an index has (`VFIO_DEVICE_GET_IRQ_INFO`), creates
//! one eventfd per vector asked for, registers them in one call and returns an
//! [`Interrupts`] that owns them: wait on a vector with a timeout
//! ([`Interrupts::wait`]), poll it ([`Interrupts::pending`]), put its
//! descriptor into an event loop ([`Interrupts::fd`]), mask and unmask it, and
//! disable the whole index on drop.
//!
//! A device that DPDK probed for a Rust driver gets the same [`Interrupts`]
//! from [`BoundDevice::enable_interrupts`](crate::BoundDevice::enable_interrupts),
//! enabled through DPDK's interrupt handle on the device (the `pci::driver`
//! module's `interrupts`); every call on it is then
//! [`IrqError::Revoked`] once DPDK removed the device.
//!
//! A device has one interrupt mode at a time (vfio-pci refuses MSI while
//! MSI-X is on, and so on), so a device has one `Interrupts` at a time in this
//! process.
//!
//! # Masking
//!
//! * INTx is level-triggered and vfio-pci masks it itself each time it fires
//!   (`VFIO_IRQ_INFO_AUTOMASKED`): acknowledge the interrupt at the device
//!   (clear its status register), then [`unmask`](Interrupts::unmask) it, or it
//!   never fires again.
//! * MSI and MSI-X take no mask ioctl in vfio-pci. Masking a vector here
//!   detaches its eventfd (`VFIO_DEVICE_SET_IRQS` for that one vector with
//!   descriptor -1), which frees the host interrupt and masks the vector in the
//!   device's MSI-X table; unmasking attaches it again. An MSI-X message the
//!   device raised meanwhile is held pending by the device and delivered on
//!   unmask; MSI without per-vector masking may lose it.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::pci::address::PciAddress;
use crate::pci::interrupt::IrqKind;
use crate::vfio::device::VfioDevice;

/// Why interrupts could not be enabled or used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IrqError {
    /// `VFIO_DEVICE_GET_IRQ_INFO` failed.
    #[error("VFIO_DEVICE_GET_IRQ_INFO for {kind} of PCI device {address} failed: {source}")]
    Info {
        /// The device.
        address: PciAddress,
        /// The index asked about.
        kind: IrqKind,
        /// The kernel's error.
        source: io::Error,
    },
    /// The device has no vector of this kind that takes an eventfd.
    #[error("PCI device {address} has no {kind} interrupt that takes an eventfd (count {count}, flags {flags:#x})")]
    Unsupported {
        /// The device.
        address: PciAddress,
        /// The index.
        kind: IrqKind,
        /// Vectors the kernel reports.
        count: u32,
        /// `VFIO_DEVICE_GET_IRQ_INFO` flags.
        flags: u32,
    },
    /// Zero vectors were asked for.
    #[error("enabling 0 {kind} vectors of PCI device {address}: ask for at least one")]
    ZeroVectors {
        /// The device.
        address: PciAddress,
        /// The index.
        kind: IrqKind,
    },
    /// More vectors were asked for than the device has.
    #[error("PCI device {address} has {available} {kind} vectors, {asked} were asked for")]
    TooManyVectors {
        /// The device.
        address: PciAddress,
        /// The index.
        kind: IrqKind,
        /// Vectors asked for.
        asked: u32,
        /// Vectors the device has.
        available: u32,
    },
    /// The device already has interrupts enabled through this crate.
    #[error(
        "PCI device {address} already has interrupts enabled in this process: drop them first"
    )]
    AlreadyEnabled {
        /// The device.
        address: PciAddress,
    },
    /// A vector past the ones enabled.
    #[error(
        "vector {vector} of PCI device {address} is not enabled ({enabled} {kind} vectors are)"
    )]
    NoSuchVector {
        /// The device.
        address: PciAddress,
        /// The index.
        kind: IrqKind,
        /// The vector asked for.
        vector: u32,
        /// Vectors enabled.
        enabled: u32,
    },
    /// Waiting on a vector that is masked: it would never fire.
    #[error("vector {vector} of PCI device {address} is masked: unmask it before waiting on it")]
    Masked {
        /// The device.
        address: PciAddress,
        /// The vector.
        vector: u32,
    },
    /// Creating an eventfd failed.
    #[error("creating an eventfd failed: {0}")]
    Eventfd(#[source] io::Error),
    /// Duplicating one of DPDK's eventfds failed.
    #[error("duplicating DPDK's eventfd for PCI device {address} failed: {source}")]
    Duplicate {
        /// The device.
        address: PciAddress,
        /// The kernel's error.
        source: io::Error,
    },
    /// DPDK removed the device (these interrupts were enabled through DPDK's
    /// handle on it, [`BoundDevice::enable_interrupts`](crate::BoundDevice::enable_interrupts)).
    #[error("PCI device {address} was removed from DPDK's bus: its interrupts are revoked")]
    Revoked {
        /// The device.
        address: PciAddress,
    },
    /// DPDK set up no VFIO interrupts for a device it probed.
    #[error(
        "DPDK set up no VFIO interrupts for PCI device {address} (interrupt handle type \
         {handle_type}): bind it to vfio-pci and register its driver with \
         DriverFlags::NEED_MAPPING"
    )]
    NotSetUp {
        /// The device.
        address: PciAddress,
        /// DPDK's `enum rte_intr_handle_type` value (-1: no handle).
        handle_type: i32,
    },
    /// DPDK set up a kind of interrupt the device does not have (it takes
    /// MSI-X by default, whenever vfio-pci offers an eventfd for it).
    #[error(
        "DPDK set up {kind} for PCI device {address}, which has no {kind} vector that takes \
         an eventfd (count {count}): start the EAL with EalBuilder::vfio_interrupt_kind \
         naming a kind the device has"
    )]
    KindMissing {
        /// The device.
        address: PciAddress,
        /// What DPDK set up.
        kind: IrqKind,
        /// Vectors the kernel reports for it.
        count: u32,
    },
    /// A call on DPDK's interrupt handle failed.
    #[error("{call} for {kind} of PCI device {address} failed ({why})")]
    Dpdk {
        /// The device.
        address: PciAddress,
        /// The kind DPDK set up.
        kind: IrqKind,
        /// DPDK's function.
        call: &'static str,
        /// DPDK's error code, or where DPDK reported the reason.
        why: String,
    },
    /// `VFIO_DEVICE_SET_IRQS` failed.
    #[error("VFIO_DEVICE_SET_IRQS ({what}) for {kind} of PCI device {address} failed: {source}")]
    SetIrqs {
        /// The device.
        address: PciAddress,
        /// The index.
        kind: IrqKind,
        /// What was asked of the kernel.
        what: &'static str,
        /// The kernel's error.
        source: io::Error,
    },
}

/// `VFIO_DEVICE_GET_IRQ_INFO` for `index` on the device `fd`.
pub(crate) fn irq_info(fd: BorrowedFd<'_>, index: u32) -> io::Result<dpdk_sys::vfio_irq_info> {
    let mut info = dpdk_sys::vfio_irq_info {
        argsz: std::mem::size_of::<dpdk_sys::vfio_irq_info>() as u32,
        index,
        ..Default::default()
    };
    // SAFETY: VFIO_DEVICE_GET_IRQ_INFO reads and writes one struct
    // vfio_irq_info of argsz bytes: the live local `info`.
    let ret = unsafe {
        libc::ioctl(
            fd.as_raw_fd(),
            dpdk_sys::dpdk_shim_vfio_ioctl_get_irq_info() as _,
            &mut info,
        )
    };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(info)
}

/// The kernel's description of `kind` on the device `file`
/// (`VFIO_DEVICE_GET_IRQ_INFO`), checked for a request of `vectors`: no vector
/// that takes an eventfd is `unusable(&info)`, 0 vectors
/// [`IrqError::ZeroVectors`], more than `available(&info)`
/// [`IrqError::TooManyVectors`].
pub(crate) fn checked_request(
    file: BorrowedFd<'_>,
    address: PciAddress,
    kind: IrqKind,
    vectors: u32,
    unusable: impl FnOnce(&dpdk_sys::vfio_irq_info) -> IrqError,
    available: impl FnOnce(&dpdk_sys::vfio_irq_info) -> u32,
) -> Result<dpdk_sys::vfio_irq_info, IrqError> {
    let info = irq_info(file, kind.index()).map_err(|source| IrqError::Info {
        address,
        kind,
        source,
    })?;
    if info.flags & dpdk_sys::VFIO_IRQ_INFO_EVENTFD == 0 || info.count == 0 {
        return Err(unusable(&info));
    }
    if vectors == 0 {
        return Err(IrqError::ZeroVectors { address, kind });
    }
    let available = available(&info);
    if vectors > available {
        return Err(IrqError::TooManyVectors {
            address,
            kind,
            asked: vectors,
            available,
        });
    }
    Ok(info)
}

/// A new non-blocking, close-on-exec eventfd.
pub(crate) fn new_eventfd() -> io::Result<OwnedFd> {
    // SAFETY: plain integer arguments; the result is checked before use.
    let raw = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: raw is a freshly created descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

/// `VFIO_DEVICE_SET_IRQS` on the device `fd`: `flags` for vectors
/// `start..start + fds.len()` of `index`, with `fds` as the eventfds when
/// `flags` has `VFIO_IRQ_SET_DATA_EVENTFD` (-1 detaches a vector), or with no
/// data for `VFIO_IRQ_SET_DATA_NONE` (then `count` vectors; 0 with
/// `ACTION_TRIGGER` disables the index).
pub(crate) fn set_irqs(
    fd: BorrowedFd<'_>,
    index: u32,
    flags: u32,
    start: u32,
    count: u32,
    fds: &[i32],
) -> io::Result<()> {
    let head = std::mem::size_of::<dpdk_sys::vfio_irq_set>();
    let data = std::mem::size_of_val(fds);
    // Built as 4-byte words: the header is five u32 fields and the data i32s,
    // so a Vec<u32> is aligned for both.
    let mut words = vec![0u32; (head + data) / 4];
    let set = dpdk_sys::vfio_irq_set {
        argsz: (head + data) as u32,
        flags,
        index,
        start,
        count,
        ..Default::default()
    };
    // SAFETY: `words` is at least `head` bytes, 4-byte aligned as the
    // all-u32 vfio_irq_set needs; the header is written once, by value.
    unsafe {
        words
            .as_mut_ptr()
            .cast::<dpdk_sys::vfio_irq_set>()
            .write(set)
    };
    for (slot, fd) in words[head / 4..].iter_mut().zip(fds) {
        *slot = *fd as u32;
    }
    // SAFETY: argsz is the length of `words`, which is live for the call; the
    // kernel only reads it.
    let ret = unsafe {
        libc::ioctl(
            fd.as_raw_fd(),
            dpdk_sys::dpdk_shim_vfio_ioctl_set_irqs() as _,
            words.as_mut_ptr(),
        )
    };
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

// The kernel reads the descriptors right after the 20-byte header.
const _: () = assert!(std::mem::size_of::<dpdk_sys::vfio_irq_set>() == 20);

/// Reads an eventfd's counter (non-blocking): the signals since the last read,
/// 0 when none.
pub(crate) fn read_counter(fd: BorrowedFd<'_>) -> u64 {
    let mut counter = 0u64;
    // SAFETY: reads at most 8 bytes into the live local `counter`; the
    // eventfd is non-blocking.
    let n = unsafe {
        libc::read(
            fd.as_raw_fd(),
            (&mut counter as *mut u64).cast(),
            std::mem::size_of::<u64>(),
        )
    };
    if n == std::mem::size_of::<u64>() as isize {
        counter
    } else {
        0
    }
}

/// Waits until `fd` is readable or `deadline` passes (`None`: no limit).
/// True when readable.
pub(crate) fn wait_readable(fd: BorrowedFd<'_>, deadline: Option<Instant>) -> bool {
    loop {
        let millis: libc::c_int = match deadline {
            None => -1,
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                // Rounded up, so a short wait does not become a busy loop.
                let ms = left.as_nanos().div_ceil(1_000_000);
                libc::c_int::try_from(ms).unwrap_or(libc::c_int::MAX)
            }
        };
        let mut pollfd = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one live pollfd, for the duration of the call.
        let ret = unsafe { libc::poll(&mut pollfd, 1, millis) };
        if ret > 0 {
            return true;
        }
        if ret == 0 && deadline.is_some_and(|d| Instant::now() >= d) {
            return false;
        }
        if ret < 0 && io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
            // Only ENOMEM is left for a valid descriptor.
            return false;
        }
    }
}

/// A deadline `timeout` from now (`None`: none; one too far away: none).
pub(crate) fn deadline(timeout: Option<Duration>) -> Option<Instant> {
    timeout.and_then(|t| Instant::now().checked_add(t))
}

/// A device's VFIO file that DPDK holds: a device DPDK probed for a Rust
/// driver, reached through a handle that DPDK's removal revokes. The PCI
/// driver module implements it; it knows DPDK's device and its interrupt
/// handle.
pub(crate) trait DpdkDeviceFile: Send + Sync + std::fmt::Debug {
    /// Runs `f` on the device's VFIO file while the device is on DPDK's bus
    /// (a removal waits for it); `None` once DPDK removed it.
    fn with_file(
        &self,
        f: &mut dyn FnMut(BorrowedFd<'_>) -> io::Result<()>,
    ) -> Option<io::Result<()>>;
    /// Disables the vectors through DPDK's interrupt handle and lets DPDK close
    /// the eventfds it made for them; nothing once the device was removed.
    fn disable(&self);
    /// Whether DPDK removed the device.
    fn is_removed(&self) -> bool;
}

/// Who holds the device's VFIO file the vectors were enabled on.
#[derive(Debug)]
enum Owner<'dev> {
    /// A device this crate opened ([`VfioDevice`]): its file, borrowed.
    Vfio(BorrowedFd<'dev>),
    /// A device DPDK probed: DPDK's file and interrupt handle.
    Dpdk(Box<dyn DpdkDeviceFile>),
}

/// How often a wait on a DPDK-probed device's vector looks whether DPDK
/// removed the device (its vectors never fire after that).
const REVOCATION_CHECK: Duration = Duration::from_millis(100);

/// The devices of this process with interrupts enabled.
static ENABLED: Mutex<Vec<PciAddress>> = Mutex::new(Vec::new());

/// One device's entry in [`ENABLED`], removed on drop.
#[derive(Debug)]
pub(crate) struct Claim(PciAddress);

impl Claim {
    /// Claims `address`; [`IrqError::AlreadyEnabled`] when it is claimed.
    pub(crate) fn take(address: PciAddress) -> Result<Self, IrqError> {
        let mut enabled = ENABLED.lock().unwrap_or_else(PoisonError::into_inner);
        if enabled.contains(&address) {
            return Err(IrqError::AlreadyEnabled { address });
        }
        enabled.push(address);
        Ok(Claim(address))
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        ENABLED
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|a| *a != self.0);
    }
}

/// A device's enabled interrupt vectors of one kind, each with its eventfd.
/// Disables the index on drop (and then closes the eventfds).
///
/// Made by [`VfioDevice::enable_interrupts`], it borrows the device's
/// descriptor, so it is dropped before the device. Made by
/// [`BoundDevice::enable_interrupts`](crate::BoundDevice::enable_interrupts)
/// for a device DPDK probed, it is `Interrupts<'static>`: it holds the bound
/// handle, and once DPDK removed the device every call is
/// [`IrqError::Revoked`] (a wait in progress ends so within 100 ms).
/// Reading the eventfds is left to this type ([`wait`](Self::wait),
/// [`pending`](Self::pending)): an event loop polls [`fd`](Self::fd) for
/// readability and then calls `pending`.
#[derive(Debug)]
pub struct Interrupts<'dev> {
    owner: Owner<'dev>,
    address: PciAddress,
    kind: IrqKind,
    info_flags: u32,
    available: u32,
    events: Vec<OwnedFd>,
    masked: Vec<bool>,
    /// Dropped after `Drop::drop` has disabled the index.
    _claim: Claim,
}

impl VfioDevice<'_> {
    /// How many vectors of `kind` the device has (`VFIO_DEVICE_GET_IRQ_INFO`):
    /// the MSI-X table size, the MSI capability's maximum, 1 or 0 for INTx.
    pub fn irq_count(&self, kind: IrqKind) -> Result<u32, IrqError> {
        use std::os::fd::AsFd;
        irq_info(self.as_fd(), kind.index())
            .map(|info| info.count)
            .map_err(|source| IrqError::Info {
                address: self.address(),
                kind,
                source,
            })
    }

    /// Enables vectors `0..vectors` of `kind`, each signalling its own eventfd.
    ///
    /// Zero vectors are [`IrqError::ZeroVectors`], more than the device has
    /// [`IrqError::TooManyVectors`], a second `Interrupts` for the same device
    /// [`IrqError::AlreadyEnabled`]. For a device that one of DPDK's own
    /// drivers probed, DPDK owns the interrupts; do not use this there. A
    /// device DPDK probed for a Rust driver enables them through DPDK:
    /// [`BoundDevice::enable_interrupts`](crate::BoundDevice::enable_interrupts).
    pub fn enable_interrupts(
        &self,
        kind: IrqKind,
        vectors: u32,
    ) -> Result<Interrupts<'_>, IrqError> {
        use std::os::fd::AsFd;
        Interrupts::enable(self.as_fd(), self.address(), kind, vectors)
    }
}

impl<'dev> Interrupts<'dev> {
    /// Enables `vectors` vectors of `kind` on the VFIO device `device`.
    pub(crate) fn enable(
        device: BorrowedFd<'dev>,
        address: PciAddress,
        kind: IrqKind,
        vectors: u32,
    ) -> Result<Self, IrqError> {
        let info = checked_request(
            device,
            address,
            kind,
            vectors,
            |info| IrqError::Unsupported {
                address,
                kind,
                count: info.count,
                flags: info.flags,
            },
            |info| info.count,
        )?;
        let claim = Claim::take(address)?;
        let events = (0..vectors)
            .map(|_| new_eventfd())
            .collect::<io::Result<Vec<_>>>()
            .map_err(IrqError::Eventfd)?;
        let fds: Vec<i32> = events.iter().map(|e| e.as_raw_fd()).collect();
        set_irqs(
            device,
            kind.index(),
            dpdk_sys::VFIO_IRQ_SET_DATA_EVENTFD | dpdk_sys::VFIO_IRQ_SET_ACTION_TRIGGER,
            0,
            vectors,
            &fds,
        )
        .map_err(|source| IrqError::SetIrqs {
            address,
            kind,
            what: "enable",
            source,
        })?;
        Ok(Interrupts {
            owner: Owner::Vfio(device),
            address,
            kind,
            info_flags: info.flags,
            available: info.count,
            events,
            masked: vec![false; vectors as usize],
            _claim: claim,
        })
    }

    /// Vectors DPDK enabled on its interrupt handle for a device it probed:
    /// `events` are this value's own duplicates of DPDK's eventfds, vector 0
    /// first.
    pub(crate) fn from_dpdk(
        file: Box<dyn DpdkDeviceFile>,
        address: PciAddress,
        kind: IrqKind,
        info: &dpdk_sys::vfio_irq_info,
        events: Vec<OwnedFd>,
        claim: Claim,
    ) -> Interrupts<'static> {
        Interrupts {
            owner: Owner::Dpdk(file),
            address,
            kind,
            info_flags: info.flags,
            available: info.count,
            masked: vec![false; events.len()],
            events,
            _claim: claim,
        }
    }

    /// The device.
    pub fn address(&self) -> PciAddress {
        self.address
    }

    /// [`IrqError::Revoked`] once DPDK removed a device it probed.
    fn check_present(&self) -> Result<(), IrqError> {
        match &self.owner {
            Owner::Dpdk(file) if file.is_removed() => Err(IrqError::Revoked {
                address: self.address,
            }),
            _ => Ok(()),
        }
    }

    /// `VFIO_DEVICE_SET_IRQS` for this value's index on the device's file.
    fn set_irqs(
        &self,
        what: &'static str,
        flags: u32,
        start: u32,
        count: u32,
        fds: &[i32],
    ) -> Result<(), IrqError> {
        let index = self.kind.index();
        let result = match &self.owner {
            Owner::Vfio(device) => set_irqs(*device, index, flags, start, count, fds),
            Owner::Dpdk(file) => file
                .with_file(&mut |device| set_irqs(device, index, flags, start, count, fds))
                .ok_or(IrqError::Revoked {
                    address: self.address,
                })?,
        };
        result.map_err(|source| IrqError::SetIrqs {
            address: self.address,
            kind: self.kind,
            what,
            source,
        })
    }

    /// The kind of vectors enabled.
    pub fn kind(&self) -> IrqKind {
        self.kind
    }

    /// Vectors enabled.
    pub fn count(&self) -> u32 {
        self.events.len() as u32
    }

    /// Vectors the device has of this kind.
    pub fn available(&self) -> u32 {
        self.available
    }

    /// Whether vfio-pci masks the vector each time it fires (INTx): then
    /// [`unmask`](Self::unmask) it after acknowledging the device.
    pub fn automasked(&self) -> bool {
        self.info_flags & dpdk_sys::VFIO_IRQ_INFO_AUTOMASKED != 0
    }

    fn event(&self, vector: u32) -> Result<BorrowedFd<'_>, IrqError> {
        use std::os::fd::AsFd;
        self.check_present()?;
        self.events
            .get(vector as usize)
            .map(|e| e.as_fd())
            .ok_or(IrqError::NoSuchVector {
                address: self.address,
                kind: self.kind,
                vector,
                enabled: self.count(),
            })
    }

    /// The eventfd of `vector`, for an event loop: readable once the vector
    /// fired. Call [`pending`](Self::pending) then to consume the signals.
    pub fn fd(&self, vector: u32) -> Result<BorrowedFd<'_>, IrqError> {
        self.event(vector)
    }

    /// The number of times `vector` fired since the last look (0: none),
    /// without blocking.
    pub fn pending(&self, vector: u32) -> Result<u64, IrqError> {
        Ok(read_counter(self.event(vector)?))
    }

    /// Blocks until `vector` fires or `timeout` passes (`None`: no limit).
    /// Returns the number of times it fired (0: the timeout passed).
    /// A masked vector is [`IrqError::Masked`].
    pub fn wait(&self, vector: u32, timeout: Option<Duration>) -> Result<u64, IrqError> {
        let event = self.event(vector)?;
        if self.masked[vector as usize] {
            return Err(IrqError::Masked {
                address: self.address,
                vector,
            });
        }
        let deadline = deadline(timeout);
        let checks_removal = matches!(self.owner, Owner::Dpdk(_));
        loop {
            let n = read_counter(event);
            if n > 0 {
                return Ok(n);
            }
            // A DPDK-probed device can go while this waits: wake up now and
            // then to look.
            let slice = match (checks_removal, deadline) {
                (false, _) => deadline,
                (true, None) => Some(Instant::now() + REVOCATION_CHECK),
                (true, Some(d)) => Some(d.min(Instant::now() + REVOCATION_CHECK)),
            };
            if !wait_readable(event, slice) {
                if slice == deadline {
                    return Ok(read_counter(event));
                }
                self.check_present()?;
            }
        }
    }

    /// Masks `vector`: INTx with vfio-pci's mask, MSI and MSI-X by detaching
    /// its eventfd (see the module's notes).
    pub fn mask(&mut self, vector: u32) -> Result<(), IrqError> {
        self.event(vector)?;
        self.set_masked(vector, true)
    }

    /// Unmasks `vector` (for INTx: after each interrupt, once the device was
    /// acknowledged).
    pub fn unmask(&mut self, vector: u32) -> Result<(), IrqError> {
        self.event(vector)?;
        self.set_masked(vector, false)
    }

    fn set_masked(&mut self, vector: u32, masked: bool) -> Result<(), IrqError> {
        if self.kind == IrqKind::Intx {
            let (what, action) = if masked {
                ("mask", dpdk_sys::VFIO_IRQ_SET_ACTION_MASK)
            } else {
                ("unmask", dpdk_sys::VFIO_IRQ_SET_ACTION_UNMASK)
            };
            self.set_irqs(
                what,
                dpdk_sys::VFIO_IRQ_SET_DATA_NONE | action,
                vector,
                1,
                &[],
            )?;
        } else {
            let (what, fd) = if masked {
                ("detach", -1)
            } else {
                ("attach", self.events[vector as usize].as_raw_fd())
            };
            self.set_irqs(
                what,
                dpdk_sys::VFIO_IRQ_SET_DATA_EVENTFD | dpdk_sys::VFIO_IRQ_SET_ACTION_TRIGGER,
                vector,
                1,
                &[fd],
            )?;
        }
        self.masked[vector as usize] = masked;
        Ok(())
    }

    /// Whether `vector` is masked through this value.
    pub fn is_masked(&self, vector: u32) -> Result<bool, IrqError> {
        self.event(vector)?;
        Ok(self.masked[vector as usize])
    }

    /// Makes the kernel signal `vector`'s eventfd as if the device had fired
    /// (`VFIO_IRQ_SET_DATA_NONE` trigger): for tests of the delivery path.
    pub fn loopback(&self, vector: u32) -> Result<(), IrqError> {
        self.event(vector)?;
        self.set_irqs(
            "loopback",
            dpdk_sys::VFIO_IRQ_SET_DATA_NONE | dpdk_sys::VFIO_IRQ_SET_ACTION_TRIGGER,
            vector,
            1,
            &[],
        )
    }
}

impl Drop for Interrupts<'_> {
    fn drop(&mut self) {
        // Disable the index (count 0, no data) before the eventfds close. A
        // failure leaves the kernel its own references, dropped with the device.
        match &self.owner {
            Owner::Vfio(device) => {
                let _ = set_irqs(
                    *device,
                    self.kind.index(),
                    dpdk_sys::VFIO_IRQ_SET_DATA_NONE | dpdk_sys::VFIO_IRQ_SET_ACTION_TRIGGER,
                    0,
                    0,
                    &[],
                );
            }
            Owner::Dpdk(file) => file.disable(),
        }
    }
}

/// Why a device could not be reset.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ResetError {
    /// The device offers no reset vfio-pci can do (no FLR, no PM reset, no
    /// slot or bus reset for it alone): `VFIO_DEVICE_FLAGS_RESET` is clear.
    #[error("PCI device {address} does not support reset through VFIO (VFIO_DEVICE_FLAGS_RESET is clear)")]
    Unsupported {
        /// The device.
        address: PciAddress,
    },
    /// `VFIO_DEVICE_RESET` failed.
    #[error("VFIO_DEVICE_RESET of PCI device {address} failed: {source}")]
    Failed {
        /// The device.
        address: PciAddress,
        /// The kernel's error.
        source: io::Error,
    },
}

/// `VFIO_DEVICE_RESET` on `fd`, when `device_flags` (from
/// `VFIO_DEVICE_GET_INFO`) say the device supports it.
pub(crate) fn reset(
    fd: BorrowedFd<'_>,
    address: PciAddress,
    device_flags: u32,
) -> Result<(), ResetError> {
    if device_flags & dpdk_sys::VFIO_DEVICE_FLAGS_RESET == 0 {
        return Err(ResetError::Unsupported { address });
    }
    // SAFETY: VFIO_DEVICE_RESET takes no argument; an explicit 0 fills the
    // variadic slot (the kernel ignores it), so nothing uninitialised is passed.
    let ret = unsafe {
        libc::ioctl(
            fd.as_raw_fd(),
            dpdk_sys::dpdk_shim_vfio_ioctl_reset() as _,
            0 as libc::c_ulong,
        )
    };
    if ret < 0 {
        return Err(ResetError::Failed {
            address,
            source: io::Error::last_os_error(),
        });
    }
    Ok(())
}

impl VfioDevice<'_> {
    /// Resets the device (`VFIO_DEVICE_RESET`: function-level reset or the
    /// like, chosen by the kernel). [`ResetError::Unsupported`] when the
    /// device offers none. Its BARs and config space are restored by the
    /// kernel; the device's own state (queues, DMA engines) is gone.
    ///
    /// Interrupts enabled through [`enable_interrupts`](Self::enable_interrupts)
    /// borrow the device and are disabled by the reset; mappings stay valid.
    pub fn reset(&self) -> Result<(), ResetError> {
        use std::os::fd::AsFd;
        reset(self.as_fd(), self.address(), self.flags())
    }
}

impl VfioDevice<'_> {
    /// Turns bus mastering (bit 2 of the command register) on or off; returns
    /// whether it was on. A device DMAs, and sends MSI and MSI-X messages
    /// (which are memory writes), only with it on; vfio-pci leaves it as the
    /// device was, and DPDK sets it only for devices its own drivers probe.
    pub fn set_bus_master(&self, on: bool) -> Result<bool, BusMasterError> {
        use crate::io::register::ConfigRegisters;
        let config = self.config()?;
        let command: u16 = config.read16(0x04)?;
        let was = command & 0x4 != 0;
        let command = if on { command | 0x4 } else { command & !0x4 };
        config.write16(0x04, command)?;
        Ok(was)
    }
}

/// Why bus mastering could not be switched.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BusMasterError {
    /// Config space's region could not be found.
    #[error(transparent)]
    Region(#[from] crate::vfio::region::RegionInfoError),
    /// The command register could not be read or written.
    #[error(transparent)]
    Access(#[from] crate::io::error::AccessError),
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    fn address() -> PciAddress {
        "0000:01:00.0".parse().unwrap()
    }

    #[test]
    fn the_ioctls_on_a_file_that_is_no_vfio_device_fail_cleanly() {
        let file = std::fs::File::open("/dev/null").unwrap();
        let err = Interrupts::enable(file.as_fd(), address(), IrqKind::Msix, 1).unwrap_err();
        assert!(
            matches!(&err, IrqError::Info { source, kind: IrqKind::Msix, .. } if source.raw_os_error() == Some(libc::ENOTTY)),
            "{err}"
        );
        let err = reset(file.as_fd(), address(), 0).unwrap_err();
        assert!(matches!(err, ResetError::Unsupported { .. }), "{err}");
        let err = reset(file.as_fd(), address(), dpdk_sys::VFIO_DEVICE_FLAGS_RESET).unwrap_err();
        assert!(
            matches!(&err, ResetError::Failed { source, .. } if source.raw_os_error() == Some(libc::ENOTTY)),
            "{err}"
        );
    }

    #[test]
    fn a_device_has_one_claim_at_a_time() {
        let first = Claim::take(address()).unwrap();
        assert!(matches!(
            Claim::take(address()),
            Err(IrqError::AlreadyEnabled { .. })
        ));
        drop(first);
        Claim::take(address()).unwrap();
    }

    #[test]
    fn eventfds_count_and_time_out() {
        let event = new_eventfd().unwrap();
        assert_eq!(read_counter(event.as_fd()), 0);
        let start = Instant::now();
        assert!(!wait_readable(
            event.as_fd(),
            deadline(Some(Duration::from_millis(30)))
        ));
        assert!(start.elapsed() >= Duration::from_millis(30));
        let two = 2u64;
        // SAFETY: writes 8 bytes from the live local `two` to the eventfd.
        let n = unsafe { libc::write(event.as_raw_fd(), (&two as *const u64).cast(), 8) };
        assert_eq!(n, 8);
        assert!(wait_readable(event.as_fd(), None));
        assert_eq!(read_counter(event.as_fd()), 2);
        assert_eq!(read_counter(event.as_fd()), 0);
    }
}
