//! Removal requests: the kernel asking this process to let a device go.
//!
//! When a device bound to vfio-pci is to leave the system (hot-unplug, an
//! unbind through sysfs, a driver override), the kernel cannot take it away
//! while a process holds its VFIO file descriptor open: the removal blocks
//! until the process closes it. vfio-pci tells the holder through the *request*
//! interrupt index (`VFIO_PCI_REQ_IRQ_INDEX`): an eventfd the process registers
//! with `VFIO_DEVICE_SET_IRQS` is signalled at once, and again about every ten
//! seconds for as long as the device stays open. Without it, the kernel logs
//! "No device request channel registered, blocked until released by user" and
//! the removal (and, for a hot-unplug, the hypervisor or the slot) waits.
//!
//! [`VfioDevice::removal_requests`] registers such an eventfd and returns a
//! [`RemovalRequests`] that owns it. Poll it with
//! [`is_requested`](RemovalRequests::is_requested), block on it with
//! [`wait`](RemovalRequests::wait), or put its descriptor
//! ([`AsFd`]) in an event loop. On a request, release the device: drop every
//! [`RegionIo`](crate::RegionIo) and mapping, the `RemovalRequests`, then
//! the [`VfioDevice`], whose drop calls `rte_vfio_release_device` (which closes
//! the device descriptor, and the IOMMU group's when it was the group's last
//! device in DPDK's container). The kernel then completes the removal; the
//! process's other devices are not affected.
//!
//! ```no_run
//! # use dpdk_safe::Eal;
//! # use dpdk_safe::RegionIndex;
//! # use std::time::Duration;
//! # fn demo(eal: &Eal) -> Result<(), Box<dyn std::error::Error>> {
//! let dev = eal.vfio_open("0000:01:00.0".parse()?)?;
//! let requests = dev.removal_requests()?;
//! let bar = dev.region(RegionIndex::BAR0)?;
//! while !requests.wait(Some(Duration::from_millis(100))) {
//!     // ... use `bar` ...
//! }
//! // Asked to let go: everything that borrows the device first, then the device.
//! drop(bar);
//! drop(requests);
//! drop(dev);
//! # Ok(()) }
//! ```

use std::cell::Cell;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use crate::pci::address::PciAddress;
use crate::vfio::device::VfioDevice;
use crate::vfio::irq::{deadline, irq_info, new_eventfd, read_counter, set_irqs, wait_readable};

/// Why removal requests could not be subscribed to.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// The device has fewer than 5 interrupt indexes, so no `VFIO_PCI_REQ_IRQ_INDEX`.
    #[error(
        "PCI device {address} reports {num_irqs} interrupt indexes: this vfio-pci offers \
         no request notification (VFIO_PCI_REQ_IRQ_INDEX = 4)"
    )]
    NoRequestIndex {
        /// The device.
        address: PciAddress,
        /// The number of interrupt indexes it reports.
        num_irqs: u32,
    },
    /// The request interrupt index has no eventfd support or a count of 0.
    #[error(
        "PCI device {address}: the request interrupt index takes no eventfd \
         (VFIO_DEVICE_GET_IRQ_INFO flags {flags:#x}, count {count})"
    )]
    NoEventfd {
        /// The device.
        address: PciAddress,
        /// The `flags` of `VFIO_DEVICE_GET_IRQ_INFO` (`VFIO_IRQ_INFO_*`).
        flags: u32,
        /// The number of interrupts of the index.
        count: u32,
    },
    /// The `VFIO_DEVICE_GET_IRQ_INFO` ioctl for the request index failed.
    #[error(
        "VFIO_DEVICE_GET_IRQ_INFO for the request index of PCI device {address} failed: {source}"
    )]
    IrqInfo {
        /// The device.
        address: PciAddress,
        /// The ioctl's error.
        source: io::Error,
    },
    /// This process already subscribed to the device's removal requests, and the subscription is
    /// live.
    #[error(
        "PCI device {address} already has a subscription to removal requests in this \
         process (a device has one request trigger): drop it first"
    )]
    AlreadySubscribed {
        /// The device.
        address: PciAddress,
    },
    /// A DPDK driver has probed the device and owns its request trigger.
    #[error(
        "PCI device {address} is probed by DPDK's driver {driver}, which holds the \
         device's request trigger itself; remove it from DPDK first"
    )]
    ProbedByDpdk {
        /// The device.
        address: PciAddress,
        /// The name of the DPDK driver.
        driver: String,
    },
    /// `eventfd` failed; holds its error.
    #[error("creating an eventfd failed: {0}")]
    Eventfd(#[source] io::Error),
    /// The `VFIO_DEVICE_SET_IRQS` ioctl that registers the eventfd failed.
    #[error("registering the request eventfd of PCI device {address} (VFIO_DEVICE_SET_IRQS) failed: {source}")]
    Register {
        /// The device.
        address: PciAddress,
        /// The ioctl's error.
        source: io::Error,
    },
}

/// A subscription to the kernel's removal requests for one device: owns the
/// eventfd registered on the device's request interrupt index, and unregisters
/// it on drop.
///
/// It borrows the [`VfioDevice`], so it is dropped before the device is.
/// Once a request has been seen it stays seen: removal is not called off.
#[derive(Debug)]
pub struct RemovalRequests<'dev> {
    device: BorrowedFd<'dev>,
    address: PciAddress,
    event: OwnedFd,
    /// Signals read from the eventfd so far.
    signals: Cell<u64>,
    /// The device's place in the process's subscriptions, given back on drop
    /// (after the trigger is unregistered: fields drop after `Drop::drop`).
    subscription: Option<Subscription>,
}

/// The devices of this process that have a subscription.
static SUBSCRIBED: Mutex<Vec<PciAddress>> = Mutex::new(Vec::new());

/// One device's entry in [`SUBSCRIBED`], removed on drop.
#[derive(Debug)]
struct Subscription(PciAddress);

impl Subscription {
    fn take(address: PciAddress) -> Result<Self, RequestError> {
        let mut subscribed = SUBSCRIBED.lock().unwrap_or_else(PoisonError::into_inner);
        if subscribed.contains(&address) {
            return Err(RequestError::AlreadySubscribed { address });
        }
        subscribed.push(address);
        Ok(Subscription(address))
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        SUBSCRIBED
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|a| *a != self.0);
    }
}

impl VfioDevice<'_> {
    /// Subscribes to removal requests for this device: registers a new eventfd
    /// on vfio-pci's request interrupt index (`VFIO_PCI_REQ_IRQ_INDEX`), after
    /// checking with `VFIO_DEVICE_GET_IRQ_INFO` that the index takes one.
    ///
    /// A device has one request trigger, so one subscription per device and
    /// process: a second one, through this handle or another [`VfioDevice`] of
    /// the same device, is [`RequestError::AlreadySubscribed`] until the first
    /// is dropped. A device that one of DPDK's drivers has probed is
    /// [`RequestError::ProbedByDpdk`]: DPDK registered its own eventfd there,
    /// for its hot-unplug handling, and a subscription would replace it.
    pub fn removal_requests(&self) -> Result<RemovalRequests<'_>, RequestError> {
        let address = self.address();
        if let Ok(device) = self.eal().pci_device(address) {
            if let Some(driver) = device.dpdk_driver {
                return Err(RequestError::ProbedByDpdk { address, driver });
            }
        }
        RemovalRequests::register(self.as_fd(), address, self.num_irqs())
    }
}

impl<'dev> RemovalRequests<'dev> {
    fn register(
        device: BorrowedFd<'dev>,
        address: PciAddress,
        num_irqs: u32,
    ) -> Result<Self, RequestError> {
        let index = dpdk_sys::VFIO_PCI_REQ_IRQ_INDEX;
        if num_irqs <= index {
            return Err(RequestError::NoRequestIndex { address, num_irqs });
        }
        let info =
            irq_info(device, index).map_err(|source| RequestError::IrqInfo { address, source })?;
        if info.flags & dpdk_sys::VFIO_IRQ_INFO_EVENTFD == 0 || info.count < 1 {
            return Err(RequestError::NoEventfd {
                address,
                flags: info.flags,
                count: info.count,
            });
        }
        let subscription = Subscription::take(address)?;
        let mut requests = Self::unregistered(device, address).map_err(RequestError::Eventfd)?;
        requests
            .set_trigger(requests.event.as_raw_fd())
            .map_err(|source| RequestError::Register { address, source })?;
        requests.subscription = Some(subscription);
        Ok(requests)
    }

    /// A new non-blocking eventfd, not yet registered with the device.
    fn unregistered(device: BorrowedFd<'dev>, address: PciAddress) -> io::Result<Self> {
        Ok(RemovalRequests {
            device,
            address,
            event: new_eventfd()?,
            signals: Cell::new(0),
            subscription: None,
        })
    }

    /// Points the device's request trigger at `fd`, or disables it with -1.
    fn set_trigger(&self, fd: i32) -> io::Result<()> {
        set_irqs(
            self.device,
            dpdk_sys::VFIO_PCI_REQ_IRQ_INDEX,
            dpdk_sys::VFIO_IRQ_SET_DATA_EVENTFD | dpdk_sys::VFIO_IRQ_SET_ACTION_TRIGGER,
            0,
            1,
            &[fd],
        )
    }

    /// The device these requests are about.
    pub fn address(&self) -> PciAddress {
        self.address
    }

    /// Whether the kernel has asked for the device, without blocking.
    pub fn is_requested(&self) -> bool {
        self.drain();
        self.signals.get() > 0
    }

    /// Blocks until the kernel asks for the device or `timeout` passes (`None`:
    /// no limit). True when a request has arrived, now or before.
    pub fn wait(&self, timeout: Option<Duration>) -> bool {
        let deadline = deadline(timeout);
        loop {
            if self.is_requested() {
                return true;
            }
            if !wait_readable(self.event.as_fd(), deadline) {
                return self.is_requested();
            }
        }
    }

    /// How many signals have been read so far. The kernel signals once when
    /// the removal starts and again about every ten seconds while it waits.
    pub fn signals(&self) -> u64 {
        self.drain();
        self.signals.get()
    }

    /// Asks the kernel to signal this subscription's eventfd now, as a removal
    /// would (VFIO's loopback: `VFIO_IRQ_SET_DATA_NONE` with a count of 1). For
    /// tests of the notification path; the device is not removed.
    pub fn loopback(&self) -> io::Result<()> {
        set_irqs(
            self.device,
            dpdk_sys::VFIO_PCI_REQ_IRQ_INDEX,
            dpdk_sys::VFIO_IRQ_SET_DATA_NONE | dpdk_sys::VFIO_IRQ_SET_ACTION_TRIGGER,
            0,
            1,
            &[],
        )
    }

    /// Reads the eventfd's counter, if it is non-zero, into `signals`.
    fn drain(&self) {
        let counter = read_counter(self.event.as_fd());
        self.signals.set(self.signals.get().saturating_add(counter));
    }
}

/// The eventfd, for an event loop (`poll`, `epoll`): readable once the kernel
/// asks for the device. Reading it is left to this type.
impl AsFd for RemovalRequests<'_> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.event.as_fd()
    }
}

impl Drop for RemovalRequests<'_> {
    fn drop(&mut self) {
        // Unregister before the eventfd closes. Failure leaves the kernel with
        // its own reference to the eventfd, dropped when the device is released.
        let _ = self.set_trigger(-1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    fn null() -> std::fs::File {
        std::fs::File::open("/dev/null").unwrap()
    }

    fn address() -> PciAddress {
        "0000:01:00.0".parse().unwrap()
    }

    fn signal(requests: &RemovalRequests<'_>) {
        let one = 1u64;
        // SAFETY: writes 8 bytes from the live local `one` to the eventfd.
        let n =
            unsafe { libc::write(requests.as_fd().as_raw_fd(), (&one as *const u64).cast(), 8) };
        assert_eq!(n, 8);
    }

    #[test]
    fn a_device_without_the_request_index_is_refused() {
        let file = null();
        let err = RemovalRequests::register(file.as_fd(), address(), 4).unwrap_err();
        assert!(matches!(
            err,
            RequestError::NoRequestIndex { num_irqs: 4, .. }
        ));
        assert!(err.to_string().contains("0000:01:00.0"), "{err}");
    }

    #[test]
    fn the_ioctl_on_a_file_that_is_no_vfio_device_fails_cleanly() {
        let file = null();
        let err = RemovalRequests::register(file.as_fd(), address(), 5).unwrap_err();
        match &err {
            RequestError::IrqInfo { source, .. } => {
                assert_eq!(source.raw_os_error(), Some(libc::ENOTTY), "{err}")
            }
            other => panic!("unexpected {other}"),
        }
    }

    #[test]
    fn a_signal_is_seen_and_stays_seen() {
        let file = null();
        let requests = RemovalRequests::unregistered(file.as_fd(), address()).unwrap();
        assert!(!requests.is_requested());
        let start = Instant::now();
        assert!(!requests.wait(Some(Duration::from_millis(30))));
        assert!(start.elapsed() >= Duration::from_millis(30));
        assert!(!requests.wait(Some(Duration::ZERO)));
        signal(&requests);
        assert!(requests.is_requested());
        assert!(requests.is_requested(), "latched");
        assert!(requests.wait(Some(Duration::ZERO)));
        signal(&requests);
        signal(&requests);
        assert_eq!(requests.signals(), 3);
        // Dropping tries to unregister on /dev/null: fails quietly.
        drop(requests);
    }

    #[test]
    fn wait_wakes_up_on_a_signal_from_another_thread() {
        let file = null();
        let requests = RemovalRequests::unregistered(file.as_fd(), address()).unwrap();
        let raw = requests.as_fd().try_clone_to_owned().unwrap();
        let signaller = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            let one = 1u64;
            // SAFETY: writes 8 bytes from the live local `one` to a duplicate of
            // the eventfd that this thread owns.
            unsafe { libc::write(raw.as_raw_fd(), (&one as *const u64).cast(), 8) }
        });
        let start = Instant::now();
        assert!(requests.wait(Some(Duration::from_secs(20))));
        assert!(start.elapsed() < Duration::from_secs(10));
        assert_eq!(signaller.join().unwrap(), 8);
        assert_eq!(requests.signals(), 1);
    }
}
