//! Opening a PCI device through VFIO.
//!
//! [`Eal::vfio_open`] opens the device with the EAL's [`VfioBackend`]: DPDK's
//! `rte_vfio_setup_device`, so the device joins DPDK's default VFIO container
//! and shares its IOMMU mappings with DPDK's drivers, or the crate's own
//! container (`vfio::container`), which needs no `rte_vfio_*` call. Before
//! either, it checks what DPDK would only log: the kernel driver, whether VFIO
//! is loaded, whether the IOMMU group node can be opened and is viable. Each
//! case gets its own error with the fix in its message.

use std::ffi::CString;
use std::fs;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use crate::eal::{Eal, VfioBackend};
use crate::io::error::AccessError;
use crate::io::file::{ConfigIo, RegionIo};
#[cfg(target_pointer_width = "64")]
use crate::io::mapped::{MapError, MappedRegion};
use crate::io::region::RegionIndex;
use crate::pci::address::PciAddress;
use crate::pci::sysfs::{sysfs_pci_root, KernelDriver, SysfsDevice, SysfsError};
use crate::vfio::container::{self, ContainerError};
use crate::vfio::msix::{find_msix_table, MsixTable};
#[cfg(target_pointer_width = "64")]
use crate::vfio::msix::{unmappable_ranges, LocateError};
use crate::vfio::region::{region_info, RegionInfo, RegionInfoError};

/// Why a device could not be opened through VFIO.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The sysfs PCI tree (second field) has no directory for the address, or its path holds a NUL
    /// byte.
    #[error("no PCI device {0} in {1}")]
    NoSuchDevice(PciAddress, PathBuf),
    /// `driver` is `None` when the device has no driver at all.
    #[error(
        "PCI device {address} {}; bind it with `dpdk-devbind.py -b vfio-pci {address}` \
         or through /sys/bus/pci/drivers/vfio-pci/new_id",
        bound_to(.driver)
    )]
    NotBoundToVfio {
        /// The device asked for.
        address: PciAddress,
        /// The kernel driver bound to it, or `None` for none.
        driver: Option<KernelDriver>,
    },
    /// The device has no `iommu_group` link, or DPDK found no group for it.
    #[error("PCI device {0} has no IOMMU group; VFIO needs an IOMMU (enable it in firmware and with intel_iommu=on or amd_iommu=on)")]
    NoIommuGroup(PciAddress),
    /// VFIO is not available: DPDK reports its VFIO support off, or the group node does not exist.
    #[error("VFIO is not available: load the vfio-pci module (`modprobe vfio-pci`) and check that /dev/vfio/vfio exists")]
    VfioUnavailable,
    /// Opening the IOMMU group's node was refused (`EACCES`/`EPERM`).
    #[error(
        "permission denied opening {path} for PCI device {address}: give this user ownership of the group node \
         (`chown USER {path}`), and a memlock limit (ulimit -l) large enough for DPDK's \
         memory, which VFIO pins for DMA"
    )]
    PermissionDenied {
        /// The device asked for.
        address: PciAddress,
        /// The group's node, `/dev/vfio/N`.
        path: PathBuf,
    },
    /// Another process holds the IOMMU group's node open (`EBUSY`).
    #[error("IOMMU group {group} of PCI device {address} is open in another process")]
    GroupBusy {
        /// The device asked for.
        address: PciAddress,
        /// The device's IOMMU group number.
        group: u32,
    },
    /// Some device of the IOMMU group is bound to a driver other than vfio-pci, so VFIO refuses the
    /// group.
    #[error(
        "IOMMU group {group} of PCI device {address} is not viable: every device in the \
         group must be bound to vfio-pci or to no driver; bound elsewhere: {others}"
    )]
    GroupNotViable {
        /// The device asked for.
        address: PciAddress,
        /// The device's IOMMU group number.
        group: u32,
        /// The misfits as `ADDRESS (driver)`, comma-separated, or `none found in sysfs`.
        others: String,
    },
    /// `rte_vfio_setup_device` failed for another reason (DPDK's log says which).
    #[error("rte_vfio_setup_device failed for PCI device {address} (see DPDK's log); memlock limit: {memlock}")]
    SetupFailed {
        /// The device asked for.
        address: PciAddress,
        /// This process's `RLIMIT_MEMLOCK` soft limit as text (`unlimited`, `N KiB` or `unknown`),
        /// a usual cause.
        memlock: String,
    },
    /// The EAL was built with [`VfioBackend::Dpdk`], and the installed DPDK
    /// has no public `rte_vfio_setup_device` (26.11 and later).
    #[error(
        "this DPDK has no public rte_vfio_* API; use EalBuilder::vfio_backend(VfioBackend::Crate)"
    )]
    BackendUnavailable,
    /// With [`VfioBackend::Crate`]: one of DPDK's drivers drives the device, so
    /// its IOMMU group is in DPDK's container, where the crate's cannot have it.
    #[error(
        "PCI device {address} is driven by DPDK's driver {driver}, whose VFIO container \
         holds its IOMMU group; remove it from DPDK first (Eal::remove), or open it \
         with VfioBackend::Dpdk"
    )]
    DrivenByDpdk {
        /// The device asked for.
        address: PciAddress,
        /// The name of the DPDK driver.
        driver: String,
    },
    /// The crate's own container ([`VfioBackend::Crate`]) could not take the
    /// device.
    #[error("opening PCI device {address} in the crate's VFIO container: {source}; memlock limit: {memlock}")]
    Container {
        /// The device asked for.
        address: PciAddress,
        /// What failed.
        source: ContainerError,
        /// This process's `RLIMIT_MEMLOCK` soft limit as text, a usual cause
        /// when DPDK's memory could not be mapped.
        memlock: String,
    },
    /// `VFIO_DEVICE_GET_INFO` failed on the device opened in the crate's container.
    #[error("VFIO_DEVICE_GET_INFO for PCI device {address}: {source}")]
    DeviceInfo {
        /// The device asked for.
        address: PciAddress,
        /// The kernel's error.
        source: io::Error,
    },
    /// Opening the group's node or `VFIO_GROUP_GET_STATUS` failed otherwise.
    #[error("checking IOMMU group {group} of PCI device {address}: {source}")]
    GroupCheck {
        /// The device asked for.
        address: PciAddress,
        /// The IOMMU group number.
        group: u32,
        /// The error of the failing call.
        source: io::Error,
    },
    /// Reading the device's sysfs directory failed.
    #[error(transparent)]
    Sysfs(#[from] SysfsError),
}

/// What [`OpenError::NotBoundToVfio`] says about the device's current driver.
fn bound_to(driver: &Option<KernelDriver>) -> String {
    match driver {
        None => "is not bound to any kernel driver, and VFIO needs vfio-pci".to_owned(),
        Some(other) => format!("is bound to {other}, not vfio-pci"),
    }
}

/// A PCI device opened through VFIO, in DPDK's container or the crate's
/// (the EAL's [`VfioBackend`]). Releases it on drop.
///
/// Its regions are reached through [`VfioDevice::region`] (`pread64`/`pwrite64`,
/// every target) and, on 64-bit targets, [`VfioDevice::map_bar`].
#[derive(Debug)]
pub struct VfioDevice<'eal> {
    address: PciAddress,
    fd: RawFd,
    opened: Opened,
    iommu_group: u32,
    num_regions: u32,
    num_irqs: u32,
    flags: u32,
    eal: &'eal Eal,
}

/// Which container the device's fd belongs to, and what its release needs.
#[derive(Debug)]
enum Opened {
    /// `rte_vfio_setup_device`'s: released with `rte_vfio_release_device`.
    #[cfg(dpdk_rte_vfio)]
    Dpdk { sysfs_base: CString, name: CString },
    /// The crate's container (`vfio::container`): the fd is closed here and
    /// the group released there.
    Crate,
}

impl Eal {
    /// Opens the PCI device at `address`, bound to vfio-pci, with the EAL's
    /// [`VfioBackend`] (in DPDK's VFIO container or in the crate's).
    pub fn vfio_open(&self, address: PciAddress) -> Result<VfioDevice<'_>, OpenError> {
        let root = sysfs_pci_root();
        let dir = root.join(address.to_string());
        if !dir.is_dir() {
            return Err(OpenError::NoSuchDevice(address, root));
        }
        let sysfs = SysfsDevice::read(&dir)?;
        if sysfs.kernel_driver != Some(KernelDriver::VfioPci) {
            return Err(OpenError::NotBoundToVfio {
                address,
                driver: sysfs.kernel_driver,
            });
        }
        let group = sysfs.iommu_group.ok_or(OpenError::NoIommuGroup(address))?;
        match self.vfio_backend {
            VfioBackend::Crate => self.open_in_crate_container(address, group, &dir),
            #[cfg(dpdk_rte_vfio)]
            VfioBackend::Dpdk => self.open_with_dpdk(address, group, &dir, root),
            #[cfg(not(dpdk_rte_vfio))]
            VfioBackend::Dpdk => Err(OpenError::BackendUnavailable),
        }
    }

    /// [`VfioBackend::Crate`]: the group in the crate's container.
    fn open_in_crate_container(
        &self,
        address: PciAddress,
        group: u32,
        dir: &Path,
    ) -> Result<VfioDevice<'_>, OpenError> {
        if !Path::new("/dev/vfio/vfio").exists() {
            return Err(OpenError::VfioUnavailable);
        }
        if let Some(driver) = self.pci_device(address).ok().and_then(|d| d.dpdk_driver) {
            return Err(OpenError::DrivenByDpdk { address, driver });
        }
        check_group(address, group, dir, container::holds_group)?;
        let opened =
            container::open_device(address, group).map_err(|source| OpenError::Container {
                address,
                source,
                memlock: memlock_limit(),
            })?;
        let mut info = dpdk_sys::vfio_device_info {
            argsz: std::mem::size_of::<dpdk_sys::vfio_device_info>() as u32,
            ..Default::default()
        };
        // SAFETY: VFIO_DEVICE_GET_INFO writes a vfio_device_info of argsz bytes
        // into the live local.
        let ret = unsafe {
            libc::ioctl(
                opened.device.as_raw_fd(),
                dpdk_sys::dpdk_shim_vfio_ioctl_get_device_info() as _,
                &mut info,
            )
        };
        if ret < 0 {
            let source = io::Error::last_os_error();
            drop(opened.device);
            container::release(group);
            return Err(OpenError::DeviceInfo { address, source });
        }
        Ok(VfioDevice {
            address,
            fd: std::os::fd::IntoRawFd::into_raw_fd(opened.device),
            opened: Opened::Crate,
            iommu_group: group,
            num_regions: info.num_regions,
            num_irqs: info.num_irqs,
            flags: info.flags,
            eal: self,
        })
    }

    /// [`VfioBackend::Dpdk`]: `rte_vfio_setup_device`, DPDK's default container.
    #[cfg(dpdk_rte_vfio)]
    fn open_with_dpdk(
        &self,
        address: PciAddress,
        group: u32,
        dir: &Path,
        root: PathBuf,
    ) -> Result<VfioDevice<'_>, OpenError> {
        let vfio = CString::new("vfio").expect("static");
        // SAFETY: a valid C string; the call only reads it.
        if unsafe { dpdk_sys::rte_vfio_is_enabled(vfio.as_ptr()) } != 1 {
            return Err(OpenError::VfioUnavailable);
        }
        check_group(address, group, dir, dpdk_holds_group)?;

        let sysfs_base = CString::new(root.as_os_str().as_encoded_bytes())
            .map_err(|_| OpenError::NoSuchDevice(address, root.clone()))?;
        let name = CString::new(address.to_string()).expect("addresses have no NUL");
        let mut fd: i32 = -1;
        // DPDK passes this to VFIO_DEVICE_GET_INFO, which needs argsz set.
        let mut info = dpdk_sys::vfio_device_info {
            argsz: std::mem::size_of::<dpdk_sys::vfio_device_info>() as u32,
            ..Default::default()
        };
        // SAFETY: both strings are valid for the call; fd and info are out-pointers
        // to live locals.
        let ret = unsafe {
            dpdk_sys::rte_vfio_setup_device(sysfs_base.as_ptr(), name.as_ptr(), &mut fd, &mut info)
        };
        match ret {
            0 if fd >= 0 => Ok(VfioDevice {
                address,
                fd,
                opened: Opened::Dpdk { sysfs_base, name },
                iommu_group: group,
                num_regions: info.num_regions,
                num_irqs: info.num_irqs,
                flags: info.flags,
                eal: self,
            }),
            1 => Err(OpenError::NoIommuGroup(address)),
            _ => Err(OpenError::SetupFailed {
                address,
                memlock: memlock_limit(),
            }),
        }
    }
}

/// Opens `/dev/vfio/GROUP` once to classify what the backend would only log,
/// then closes it again for the backend to open. `held` says whether the
/// backend's container has the group open already (then `EBUSY` is expected).
fn check_group(
    address: PciAddress,
    group: u32,
    dir: &Path,
    held: fn(u32) -> bool,
) -> Result<(), OpenError> {
    let path = PathBuf::from(format!("/dev/vfio/{group}"));
    let c_path = CString::new(path.as_os_str().as_encoded_bytes()).expect("no NUL");
    // SAFETY: a valid C path; the result is checked before use.
    let raw = unsafe { libc::open(c_path.as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
    if raw < 0 {
        let err = io::Error::last_os_error();
        return Err(match err.raw_os_error() {
            Some(libc::EACCES) | Some(libc::EPERM) => OpenError::PermissionDenied { address, path },
            Some(libc::ENOENT) | Some(libc::ENODEV) => OpenError::VfioUnavailable,
            // The backend may hold the group open already (another device of
            // the same group): let it decide.
            Some(libc::EBUSY) if held(group) => return Ok(()),
            Some(libc::EBUSY) => OpenError::GroupBusy { address, group },
            _ => OpenError::GroupCheck {
                address,
                group,
                source: err,
            },
        });
    }
    // SAFETY: raw is a freshly opened descriptor owned by nobody else.
    let group_fd = unsafe { OwnedFd::from_raw_fd(raw) };
    let mut status = dpdk_sys::vfio_group_status {
        argsz: std::mem::size_of::<dpdk_sys::vfio_group_status>() as u32,
        flags: 0,
    };
    // SAFETY: VFIO_GROUP_GET_STATUS writes a vfio_group_status of argsz bytes
    // into the live local `status`.
    let ret = unsafe {
        libc::ioctl(
            group_fd.as_raw_fd(),
            dpdk_sys::dpdk_shim_vfio_ioctl_group_get_status() as _,
            &mut status,
        )
    };
    if ret < 0 {
        return Err(OpenError::GroupCheck {
            address,
            group,
            source: io::Error::last_os_error(),
        });
    }
    if status.flags & dpdk_sys::VFIO_GROUP_FLAGS_VIABLE == 0 {
        return Err(OpenError::GroupNotViable {
            address,
            group,
            others: group_misfits(dir),
        });
    }
    Ok(())
}

/// Whether DPDK's default container already has this IOMMU group open.
#[cfg(dpdk_rte_vfio)]
///
/// Called only when opening the group node gave EBUSY: `rte_vfio_get_group_fd`
/// returns DPDK's descriptor if it has one, and otherwise tries to open the node,
/// which fails with the same EBUSY and leaves nothing behind.
fn dpdk_holds_group(group: u32) -> bool {
    let Ok(group) = i32::try_from(group) else {
        return false;
    };
    // SAFETY: plain integer argument; see above for why this has no side effect.
    unsafe { dpdk_sys::rte_vfio_get_group_fd(group) >= 0 }
}

/// The other devices of the group that are bound to a driver other than vfio-pci.
fn group_misfits(dir: &Path) -> String {
    let members = dir.join("iommu_group/devices");
    let mut misfits = Vec::new();
    if let Ok(entries) = fs::read_dir(&members) {
        for entry in entries.flatten() {
            let driver = fs::read_link(entry.path().join("driver"))
                .ok()
                .and_then(|t| t.file_name().map(|n| n.to_string_lossy().into_owned()));
            if let Some(driver) = driver.filter(|d| d != "vfio-pci" && d != "pcieport") {
                misfits.push(format!(
                    "{} ({driver})",
                    entry.file_name().to_string_lossy()
                ));
            }
        }
    }
    misfits.sort();
    if misfits.is_empty() {
        "none found in sysfs".to_owned()
    } else {
        misfits.join(", ")
    }
}

/// RLIMIT_MEMLOCK as text, for error messages.
fn memlock_limit() -> String {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the live local.
    if unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut limit) } != 0 {
        return "unknown".to_owned();
    }
    if limit.rlim_cur == libc::RLIM_INFINITY {
        "unlimited".to_owned()
    } else {
        format!("{} KiB", limit.rlim_cur / 1024)
    }
}

impl VfioDevice<'_> {
    /// The device's PCI address.
    pub fn address(&self) -> PciAddress {
        self.address
    }

    /// The device's IOMMU group number (`/dev/vfio/N`).
    pub fn iommu_group(&self) -> u32 {
        self.iommu_group
    }

    /// Maps `vaddr..vaddr + len` at `iova` in the container this device's
    /// group is in: DPDK's default container (`rte_vfio_container_dma_map`)
    /// or the crate's own (`VFIO_IOMMU_MAP_DMA`).
    ///
    /// # Safety
    /// The range is memory of this process that stays mapped until
    /// [`dma_unmap_external`](Self::dma_unmap_external) has run for it.
    pub(crate) unsafe fn dma_map_external(
        &self,
        vaddr: u64,
        iova: u64,
        len: u64,
    ) -> Result<(), i32> {
        match self.opened {
            #[cfg(dpdk_rte_vfio)]
            Opened::Dpdk { .. } => {
                // SAFETY: -1 is RTE_VFIO_DEFAULT_CONTAINER_FD, the container
                // the device's group is in; the range is the caller's.
                match unsafe { dpdk_sys::rte_vfio_container_dma_map(-1, vaddr, iova, len) } {
                    0 => Ok(()),
                    _ => Err(crate::errno::last_rte_errno()),
                }
            }
            // SAFETY: the caller's contract is map_external's.
            Opened::Crate => unsafe { crate::vfio::container::map_external(vaddr, iova, len) }
                .map_err(|e| e.raw_os_error().unwrap_or(libc::EIO)),
        }
    }

    /// Undoes [`dma_map_external`](Self::dma_map_external).
    pub(crate) fn dma_unmap_external(&self, vaddr: u64, iova: u64, len: u64) {
        match self.opened {
            #[cfg(dpdk_rte_vfio)]
            Opened::Dpdk { .. } => {
                // SAFETY: as in dma_map_external; an unmap touches no memory.
                let _ = unsafe { dpdk_sys::rte_vfio_container_dma_unmap(-1, vaddr, iova, len) };
            }
            Opened::Crate => {
                let _ = vaddr;
                let _ = crate::vfio::container::unmap_external(iova, len);
            }
        }
    }

    /// Number of regions the kernel reports (9 for PCI: BAR0-5, ROM, config, VGA).
    pub fn num_regions(&self) -> u32 {
        self.num_regions
    }

    /// Number of interrupt indexes the kernel reports (`num_irqs` of `VFIO_DEVICE_GET_INFO`; 5 for
    /// a current vfio-pci: INTx, MSI, MSI-X, ERR, REQ).
    pub fn num_irqs(&self) -> u32 {
        self.num_irqs
    }

    /// `VFIO_DEVICE_FLAGS_*` as reported by the kernel.
    pub fn flags(&self) -> u32 {
        self.flags
    }

    /// What the kernel says about one region.
    pub fn region_info(&self, index: RegionIndex) -> Result<RegionInfo, RegionInfoError> {
        region_info(self.as_fd(), index)
    }

    /// `pread64`/`pwrite64` access to one region; works on every target.
    pub fn region(&self, index: RegionIndex) -> Result<RegionIo<'_>, RegionInfoError> {
        let info = self.region_info(index)?;
        Ok(RegionIo::new(self.as_fd(), info.window(), info.offset))
    }

    /// Config space, through `pread64`/`pwrite64`: 1, 2 and 4-byte registers.
    pub fn config(&self) -> Result<ConfigIo<'_>, RegionInfoError> {
        Ok(ConfigIo::new(self.region(RegionIndex::Config)?))
    }

    /// The MSI-X table's location, from the capability list in config space.
    pub fn msix_table(&self) -> Result<Option<MsixTable>, BarError> {
        Ok(find_msix_table(&self.config()?)?)
    }

    /// Maps a BAR with `mmap64`, honouring the kernel's mmap flag and sparse areas,
    /// and leaving out the MSI-X table unless the kernel says it is mappable.
    /// 64-bit targets only; on 32-bit use [`region`](Self::region).
    ///
    /// The only safe way to get an owned mapping: the region is this device's,
    /// and its offset, size, flags and areas are the kernel's answer for it,
    /// asked here. Nothing a caller passes can make the mapping cover memory
    /// that is not the BAR (see the `SAFETY` comment inside).
    #[cfg(target_pointer_width = "64")]
    pub fn map_bar(&self, index: RegionIndex) -> Result<MappedRegion<'_>, BarError> {
        let info = self.region_info(index)?;
        let exclude = unmappable_ranges(self.as_fd(), &info).map_err(|e| match e {
            LocateError::Info(e) => BarError::Info(e),
            LocateError::Access(e) => BarError::Access(e),
        })?;
        // What map_fd's contract rests on here: vfio-pci lets only the ranges
        // it reports be mapped and backs them with the BAR itself (device
        // memory, VM_IO | VM_PFNMAP), not with a file that can be truncated or
        // memory the Rust abstract machine owns, so concurrent volatile accesses
        // are the device's business, not data races. (The kernel does make
        // accesses SIGBUS while the device's memory decoding is off, e.g. during
        // a reset: the process stops there; no memory is corrupted.)
        let file = info.mappable()?;
        // SAFETY: `self.as_fd()` is this device's VFIO fd, open for as long as
        // the mapping borrows `self`; `file` is the kernel's report for the
        // region, just asked; `exclude` can only take pages out.
        let bar = unsafe { MappedRegion::map_file(self.as_fd(), &file, &exclude) }?;
        Ok(bar)
    }
}

/// Why a BAR could not be reached.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BarError {
    /// The kernel's region information could not be read or is inconsistent.
    #[error(transparent)]
    Info(#[from] RegionInfoError),
    /// The access failed (out of range, unaligned, wrong BAR kind, I/O error...).
    #[error(transparent)]
    Access(#[from] AccessError),
    /// The BAR could not be mapped into memory.
    #[cfg(target_pointer_width = "64")]
    #[error(transparent)]
    Map(#[from] MapError),
}

impl AsFd for VfioDevice<'_> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        // SAFETY: fd stays open until Drop releases it through DPDK, and the
        // borrow cannot outlive self.
        unsafe { BorrowedFd::borrow_raw(self.fd) }
    }
}

impl VfioDevice<'_> {
    /// The EAL the device was opened in.
    pub(crate) fn eal(&self) -> &Eal {
        self.eal
    }
}

impl Drop for VfioDevice<'_> {
    fn drop(&mut self) {
        match &self.opened {
            Opened::Crate => {
                // SAFETY: the fd came from VFIO_GROUP_GET_DEVICE_FD, is owned by
                // this value and closed nowhere else.
                unsafe { libc::close(self.fd) };
                container::release(self.iommu_group);
            }
            #[cfg(dpdk_rte_vfio)]
            Opened::Dpdk { sysfs_base, name } => {
                release_with_dpdk(sysfs_base, name, self.fd, self.iommu_group)
            }
        }
    }
}

/// `rte_vfio_release_device` for a device `rte_vfio_setup_device` opened.
///
/// rte_vfio_release_device looks the IOMMU group up again through
/// `SYSFS/ADDRESS/iommu_group`, and when that link is gone (the device was
/// hot-unplugged, the tree changed) it returns early with the device fd open
/// and the group still counted. So DPDK is given a private directory whose
/// only entry is that link, pointing at the group the device was opened in:
/// the release then always finds the group DPDK set the device up in, closes
/// the device fd, and closes the group when it was its last device.
#[cfg(dpdk_rte_vfio)]
fn release_with_dpdk(sysfs_base: &CString, name: &CString, fd: RawFd, group: u32) {
    match GroupLink::new(name, group) {
        Ok(link) => {
            // SAFETY: both strings are NUL-terminated and outlive the call;
            // `fd` came from rte_vfio_setup_device for this device in this
            // group, and DPDK closes it (it is not used after this).
            unsafe {
                dpdk_sys::rte_vfio_release_device(link.base.as_ptr(), name.as_ptr(), fd);
            }
        }
        Err(_) => release_through_sysfs(sysfs_base, name, fd),
    }
}

/// The release when no private link could be made (no writable temporary
/// directory): through the live sysfs tree, closing the fd here when DPDK
/// cannot find the group (which then stays counted in DPDK's container).
#[cfg(dpdk_rte_vfio)]
fn release_through_sysfs(sysfs_base: &CString, name: &CString, fd: RawFd) {
    let mut group = 0;
    // SAFETY: both strings are NUL-terminated and outlive the call; `group`
    // is a valid place for the int DPDK writes.
    let found =
        unsafe { dpdk_sys::rte_vfio_get_group_num(sysfs_base.as_ptr(), name.as_ptr(), &mut group) };
    if found <= 0 {
        // SAFETY: the fd came from rte_vfio_setup_device, is owned by the
        // device being dropped and closed nowhere else on this path.
        unsafe { libc::close(fd) };
        return;
    }
    // SAFETY: the strings and fd are those given to rte_vfio_setup_device;
    // DPDK closes the fd and drops the group when no device uses it.
    unsafe {
        dpdk_sys::rte_vfio_release_device(sysfs_base.as_ptr(), name.as_ptr(), fd);
    }
}

/// A private directory `BASE/ADDRESS/iommu_group -> GROUP` for DPDK's group
/// lookup (it reads only that link, and takes the number after its last `/`);
/// removed on drop.
#[cfg(dpdk_rte_vfio)]
struct GroupLink {
    base: CString,
    dir: PathBuf,
}

#[cfg(dpdk_rte_vfio)]
impl GroupLink {
    fn new(name: &CString, group: u32) -> io::Result<Self> {
        use std::sync::atomic::{AtomicU64, Ordering};
        static N: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "dpdk-rs-vfio-release-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let base = CString::new(dir.as_os_str().as_encoded_bytes())
            .map_err(|_| io::Error::other("NUL in the temporary directory's path"))?;
        let device = dir.join(name.to_string_lossy().as_ref());
        // Removed on drop from here on, whatever step fails.
        let link = GroupLink { base, dir };
        fs::create_dir_all(&device)?;
        std::os::unix::fs::symlink(group.to_string(), device.join("iommu_group"))?;
        Ok(link)
    }
}

#[cfg(dpdk_rte_vfio)]
impl Drop for GroupLink {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}
