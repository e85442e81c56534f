//! The crate's own VFIO container ([`VfioBackend::Crate`](crate::VfioBackend)):
//! opening a device without `rte_vfio_*`, which DPDK makes internal in 26.11.
//!
//! One container per process (there is one EAL per process), opened on the
//! first device. Each IOMMU group joins it once and leaves when its last
//! device is released. When the first group joins, the container gets its
//! IOMMU type (type 1, v2 where the kernel has it) and every memory segment
//! DPDK has is mapped into it at its IOVA; a memory event callback then maps
//! each segment DPDK allocates later and unmaps each one it frees, so a DMA
//! buffer's IOVA ([`DmaBuffer::iova`](crate::DmaBuffer::iova)) is valid for
//! the device as it is with DPDK's container. When the last group leaves, the
//! kernel drops the IOMMU and its mappings with it.
//!
//! Locks: DPDK calls the memory event callback with its memory hotplug lock
//! held, and the callback takes [`STATE`]'s mutex. So code holding the mutex
//! never calls into DPDK's memory subsystem: the segment walk runs without it
//! and takes it per segment, in the same order as the callback.

use std::collections::HashMap;
use std::ffi::{c_void, CString};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::{Mutex, MutexGuard};

use crate::pci::address::PciAddress;

/// `VFIO_TYPE` (`';'`) and `VFIO_BASE` of `<linux/vfio.h>`: every VFIO ioctl
/// is `_IO(VFIO_TYPE, VFIO_BASE + n)`.
const VFIO_TYPE: u32 = b';' as u32;
const VFIO_BASE: u32 = 100;

/// `_IO(VFIO_TYPE, VFIO_BASE + n)` in the generic ioctl encoding (direction
/// and size bits 0), which x86, x86_64, arm and aarch64 use.
const fn vfio_io(n: u32) -> u64 {
    ((VFIO_TYPE << 8) | (VFIO_BASE + n)) as u64
}

pub(crate) const VFIO_GET_API_VERSION: u64 = vfio_io(0);
pub(crate) const VFIO_CHECK_EXTENSION: u64 = vfio_io(1);
pub(crate) const VFIO_SET_IOMMU: u64 = vfio_io(2);
pub(crate) const VFIO_GROUP_SET_CONTAINER: u64 = vfio_io(4);
pub(crate) const VFIO_GROUP_UNSET_CONTAINER: u64 = vfio_io(5);
pub(crate) const VFIO_GROUP_GET_DEVICE_FD: u64 = vfio_io(6);
pub(crate) const VFIO_IOMMU_MAP_DMA: u64 = vfio_io(13);
pub(crate) const VFIO_IOMMU_UNMAP_DMA: u64 = vfio_io(14);

/// `VFIO_API_VERSION`.
const API_VERSION: i32 = 0;

/// DPDK's `RTE_BAD_IOVA`.
const BAD_IOVA: u64 = u64::MAX;

/// Why the crate's container could not take a device.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ContainerError {
    /// `/dev/vfio/vfio` could not be opened.
    #[error("opening /dev/vfio/vfio: {0}")]
    Open(#[source] io::Error),
    /// The kernel speaks another VFIO API version, or has no type 1 IOMMU.
    #[error("the kernel's VFIO {0}")]
    Unsupported(&'static str),
    /// A container or group ioctl failed.
    #[error("{call} for IOMMU group {group}: {source}")]
    Ioctl {
        /// The failing ioctl.
        call: &'static str,
        /// The IOMMU group it was for.
        group: u32,
        /// The kernel's error.
        source: io::Error,
    },
    /// Mapping one of DPDK's memory segments into the container failed (often
    /// the memlock limit: VFIO pins what it maps).
    #[error("VFIO_IOMMU_MAP_DMA of DPDK's memory ({len} bytes at IOVA {iova:#x}): {source}")]
    DmaMap {
        /// The segment's IOVA.
        iova: u64,
        /// The segment's length.
        len: u64,
        /// The kernel's error.
        source: io::Error,
    },
}

/// A group in the container and how many open devices keep it there.
struct Group {
    fd: OwnedFd,
    devices: usize,
}

/// The process's container.
struct State {
    container: OwnedFd,
    /// `VFIO_TYPE1v2_IOMMU` or `VFIO_TYPE1_IOMMU`.
    iommu_type: u32,
    /// Set once a group joined and the IOMMU type was set; cleared when the
    /// last group leaves (the kernel then drops the IOMMU and its mappings).
    iommu_set: bool,
    groups: HashMap<u32, Group>,
}

static STATE: Mutex<Option<State>> = Mutex::new(None);

/// Whether DPDK's memory comes and goes after start-up, so that the memory
/// event callback is registered (once per process: DPDK keeps it until the EAL
/// is cleaned up, and it only acts while groups are in); `None` before the
/// first try.
static CALLBACK: Mutex<Option<bool>> = Mutex::new(None);

fn lock() -> MutexGuard<'static, Option<State>> {
    // A panic while holding the lock leaves plain bookkeeping behind: go on.
    STATE.lock().unwrap_or_else(|e| e.into_inner())
}

/// `ioctl(fd, request, arg)` with errno as an `io::Error`.
///
/// # Safety
///
/// `arg` must be what `request` expects of it (an integer, or a pointer to a
/// live value of the request's type that the kernel may read and write).
unsafe fn ioctl(fd: RawFd, request: u64, arg: usize) -> io::Result<i32> {
    // SAFETY: the caller's contract.
    let ret = unsafe { libc::ioctl(fd, request as _, arg) };
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Opens `/dev/vfio/vfio` and checks the API version and IOMMU type.
fn open_container() -> Result<State, ContainerError> {
    let path = c"/dev/vfio/vfio";
    // SAFETY: a valid C path; the result is checked before use.
    let raw = unsafe { libc::open(path.as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
    if raw < 0 {
        return Err(ContainerError::Open(io::Error::last_os_error()));
    }
    // SAFETY: raw was just opened and is owned by nobody else.
    let container = unsafe { OwnedFd::from_raw_fd(raw) };
    // SAFETY: VFIO_GET_API_VERSION takes no argument.
    let version = unsafe { ioctl(container.as_raw_fd(), VFIO_GET_API_VERSION, 0) };
    if version.ok() != Some(API_VERSION) {
        return Err(ContainerError::Unsupported("API version is not 0"));
    }
    let has = |ext: u32| {
        // SAFETY: VFIO_CHECK_EXTENSION takes the extension number by value.
        unsafe { ioctl(container.as_raw_fd(), VFIO_CHECK_EXTENSION, ext as usize) }
            .is_ok_and(|r| r > 0)
    };
    let iommu_type = if has(dpdk_sys::VFIO_TYPE1v2_IOMMU) {
        dpdk_sys::VFIO_TYPE1v2_IOMMU
    } else if has(dpdk_sys::VFIO_TYPE1_IOMMU) {
        dpdk_sys::VFIO_TYPE1_IOMMU
    } else {
        return Err(ContainerError::Unsupported("container has no type 1 IOMMU"));
    };
    Ok(State {
        container,
        iommu_type,
        iommu_set: false,
        groups: HashMap::new(),
    })
}

/// A device opened in the crate's container: its fd, and the group it keeps
/// there until [`release`].
pub(crate) struct Opened {
    pub(crate) device: OwnedFd,
}

/// Opens `address`, in IOMMU group `group`, in the crate's container,
/// attaching the group (and mapping DPDK's memory) if it is the first.
pub(crate) fn open_device(address: PciAddress, group: u32) -> Result<Opened, ContainerError> {
    let first_group = {
        let mut guard = lock();
        if guard.is_none() {
            *guard = Some(open_container()?);
        }
        let state = guard.as_mut().expect("just set");
        let first = attach_group(state, group)?;
        let name = CString::new(address.to_string()).expect("addresses have no NUL");
        let fd = state.groups[&group].fd.as_raw_fd();
        // SAFETY: VFIO_GROUP_GET_DEVICE_FD reads the NUL-terminated name, live
        // for the call.
        match unsafe { ioctl(fd, VFIO_GROUP_GET_DEVICE_FD, name.as_ptr() as usize) } {
            Ok(raw) => {
                state.groups.get_mut(&group).expect("attached").devices += 1;
                // SAFETY: the kernel just returned this new descriptor.
                let device = unsafe { OwnedFd::from_raw_fd(raw) };
                (first, device)
            }
            Err(source) => {
                detach_if_unused(state, group);
                return Err(ContainerError::Ioctl {
                    call: "VFIO_GROUP_GET_DEVICE_FD",
                    group,
                    source,
                });
            }
        }
    };
    let (first, device) = first_group;
    if first {
        let dynamic = register_callback();
        if let Err(err) = map_all_segments(dynamic) {
            drop(device);
            release(group);
            return Err(err);
        }
    }
    Ok(Opened { device })
}

/// Puts `group` in the container (once); sets the IOMMU type when it is the
/// first group. Returns whether DPDK's memory must now be mapped.
fn attach_group(state: &mut State, group: u32) -> Result<bool, ContainerError> {
    if state.groups.contains_key(&group) {
        return Ok(false);
    }
    let path = CString::new(format!("/dev/vfio/{group}")).expect("no NUL");
    // SAFETY: a valid C path; the result is checked before use.
    let raw = unsafe { libc::open(path.as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
    if raw < 0 {
        return Err(ContainerError::Ioctl {
            call: "open",
            group,
            source: io::Error::last_os_error(),
        });
    }
    // SAFETY: raw was just opened and is owned by nobody else.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    let container = state.container.as_raw_fd();
    // SAFETY: VFIO_GROUP_SET_CONTAINER reads the container fd from the live
    // local it points at.
    unsafe {
        ioctl(
            fd.as_raw_fd(),
            VFIO_GROUP_SET_CONTAINER,
            &container as *const i32 as usize,
        )
    }
    .map_err(|source| ContainerError::Ioctl {
        call: "VFIO_GROUP_SET_CONTAINER",
        group,
        source,
    })?;
    let mut first = false;
    if !state.iommu_set {
        // SAFETY: VFIO_SET_IOMMU takes the IOMMU type by value.
        let set = unsafe { ioctl(container, VFIO_SET_IOMMU, state.iommu_type as usize) };
        if let Err(source) = set {
            // SAFETY: VFIO_GROUP_UNSET_CONTAINER takes no argument.
            let _ = unsafe { ioctl(fd.as_raw_fd(), VFIO_GROUP_UNSET_CONTAINER, 0) };
            return Err(ContainerError::Ioctl {
                call: "VFIO_SET_IOMMU",
                group,
                source,
            });
        }
        state.iommu_set = true;
        first = true;
    }
    state.groups.insert(group, Group { fd, devices: 0 });
    Ok(first)
}

/// Takes `group` out of the container when no device keeps it there.
fn detach_if_unused(state: &mut State, group: u32) {
    if state.groups.get(&group).is_some_and(|g| g.devices == 0) {
        let g = state.groups.remove(&group).expect("present");
        // SAFETY: VFIO_GROUP_UNSET_CONTAINER takes no argument.
        let _ = unsafe { ioctl(g.fd.as_raw_fd(), VFIO_GROUP_UNSET_CONTAINER, 0) };
        drop(g.fd);
        if state.groups.is_empty() {
            // The kernel dropped the IOMMU, and every mapping, with the last group.
            state.iommu_set = false;
        }
    }
}

/// Whether the crate's container has `group` open.
pub(crate) fn holds_group(group: u32) -> bool {
    lock()
        .as_ref()
        .is_some_and(|s| s.groups.contains_key(&group))
}

/// Called when a device opened by [`open_device`] was closed.
pub(crate) fn release(group: u32) {
    let mut guard = lock();
    if let Some(state) = guard.as_mut() {
        if let Some(g) = state.groups.get_mut(&group) {
            g.devices = g.devices.saturating_sub(1);
        }
        detach_if_unused(state, group);
    }
}

/// `VFIO_IOMMU_MAP_DMA` of `vaddr..vaddr + len` at `iova`, readable and
/// writable by the devices of the container `fd`.
///
/// # Safety
/// The range is memory of this process that stays mapped until it is unmapped
/// from the container again.
unsafe fn map_ioctl(fd: RawFd, vaddr: u64, iova: u64, len: u64) -> io::Result<()> {
    let mut req = dpdk_sys::vfio_iommu_type1_dma_map {
        argsz: std::mem::size_of::<dpdk_sys::vfio_iommu_type1_dma_map>() as u32,
        flags: dpdk_sys::VFIO_DMA_MAP_FLAG_READ | dpdk_sys::VFIO_DMA_MAP_FLAG_WRITE,
        vaddr,
        iova,
        size: len,
    };
    // SAFETY: VFIO_IOMMU_MAP_DMA reads a vfio_iommu_type1_dma_map of argsz
    // bytes from the live local; the range stays mapped (the caller's contract).
    unsafe { ioctl(fd, VFIO_IOMMU_MAP_DMA, &mut req as *mut _ as usize) }.map(|_| ())
}

/// `VFIO_IOMMU_UNMAP_DMA` of `iova..iova + len` in the container `fd`.
fn unmap_ioctl(fd: RawFd, iova: u64, len: u64) -> io::Result<()> {
    let mut req = dpdk_sys::vfio_iommu_type1_dma_unmap {
        argsz: std::mem::size_of::<dpdk_sys::vfio_iommu_type1_dma_unmap>() as u32,
        iova,
        size: len,
        ..Default::default()
    };
    // SAFETY: VFIO_IOMMU_UNMAP_DMA reads and writes a
    // vfio_iommu_type1_dma_unmap of argsz bytes in the live local; an unmap
    // touches no memory of this process.
    unsafe { ioctl(fd, VFIO_IOMMU_UNMAP_DMA, &mut req as *mut _ as usize) }.map(|_| ())
}

/// Maps application memory for the devices of the crate's container,
/// strictly: an IOVA range already in use (DPDK's memory, an earlier mapping)
/// is the kernel's `EEXIST`, an error here.
///
/// # Safety
/// As for `map_ioctl`: the range stays mapped until [`unmap_external`] has run
/// for it.
pub(crate) unsafe fn map_external(vaddr: u64, iova: u64, len: u64) -> io::Result<()> {
    let guard = lock();
    let Some(state) = guard.as_ref().filter(|s| s.iommu_set) else {
        // Only reachable with no device open in the container.
        return Err(io::Error::from_raw_os_error(libc::ENODEV));
    };
    // SAFETY: the caller's contract.
    unsafe { map_ioctl(state.container.as_raw_fd(), vaddr, iova, len) }
}

/// Unmaps what [`map_external`] mapped at `iova`.
pub(crate) fn unmap_external(iova: u64, len: u64) -> io::Result<()> {
    let guard = lock();
    match guard.as_ref().filter(|s| s.iommu_set) {
        Some(state) => unmap_ioctl(state.container.as_raw_fd(), iova, len),
        None => Ok(()),
    }
}

/// Maps (or unmaps) one range of DPDK's memory at its IOVA, if the container
/// has its IOMMU. `EEXIST` on a map is fine: a memory event and the walk both
/// saw it.
fn dma(map: bool, vaddr: u64, iova: u64, len: u64) -> Result<(), ContainerError> {
    let guard = lock();
    let Some(state) = guard.as_ref().filter(|s| s.iommu_set) else {
        return Ok(());
    };
    let fd = state.container.as_raw_fd();
    let result = if map {
        // SAFETY: the range is DPDK's memory, which stays mapped in this
        // process until DPDK frees it (then the memory callback unmaps it).
        unsafe { map_ioctl(fd, vaddr, iova, len) }
    } else {
        unmap_ioctl(fd, iova, len)
    };
    match result {
        Ok(()) => Ok(()),
        Err(e) if map && e.raw_os_error() == Some(libc::EEXIST) => Ok(()),
        Err(source) if map => Err(ContainerError::DmaMap { iova, len, source }),
        // An unmap of what was never mapped (freed before the walk saw it).
        Err(_) => Ok(()),
    }
}

/// Maps every memory segment DPDK has (external memory aside: that is
/// registered per device with `rte_dev_dma_map`). Where memory comes and goes
/// (`dynamic`), one mapping per segment, so that each freed page can be
/// unmapped alone (type 1 v2 unmaps whole mappings only); otherwise (legacy
/// memory, `--no-huge`) with IOVA = VA, one mapping per contiguous run, as
/// DPDK's own container does: 64 MiB of 4 KiB pages is then one ioctl, not
/// 16384.
fn map_all_segments(dynamic: bool) -> Result<(), ContainerError> {
    let mut first_error: Option<ContainerError> = None;
    /// Maps `len` bytes from segment `ms` on; records the first failure.
    ///
    /// # Safety
    ///
    /// `msl` and `ms` are live pointers DPDK passed to a walk callback, and
    /// `arg` is `map_all_segments`'s `first_error`.
    unsafe fn map_run(
        msl: *const dpdk_sys::rte_memseg_list,
        ms: *const dpdk_sys::rte_memseg,
        len: usize,
        arg: *mut c_void,
    ) -> i32 {
        // SAFETY: the caller's contract.
        let (msl, ms, error) = unsafe { (&*msl, &*ms, &mut *arg.cast::<Option<ContainerError>>()) };
        // SAFETY: `addr_64` is the union's integer view of the address (every
        // bit pattern is a valid u64).
        let (vaddr, iova) = (unsafe { ms.__bindgen_anon_1.addr_64 }, ms.iova);
        if msl.external != 0 || iova == BAD_IOVA || len == 0 {
            return 0;
        }
        match dma(true, vaddr, iova, len as u64) {
            Ok(()) => 0,
            Err(e) => {
                *error = Some(e);
                1
            }
        }
    }
    unsafe extern "C" fn each(
        msl: *const dpdk_sys::rte_memseg_list,
        ms: *const dpdk_sys::rte_memseg,
        arg: *mut c_void,
    ) -> i32 {
        // SAFETY: DPDK passes live pointers for the call; `arg` is
        // `first_error`, which outlives the walk. `len` is read from the
        // live segment.
        unsafe { map_run(msl, ms, (*ms).len, arg) }
    }
    unsafe extern "C" fn each_run(
        msl: *const dpdk_sys::rte_memseg_list,
        ms: *const dpdk_sys::rte_memseg,
        len: usize,
        arg: *mut c_void,
    ) -> i32 {
        // SAFETY: as in `each`; DPDK gives the run's length.
        unsafe { map_run(msl, ms, len, arg) }
    }
    // SAFETY: a plain getter of the running EAL's setting.
    let iova_is_va =
        unsafe { dpdk_sys::rte_eal_iova_mode() } == dpdk_sys::rte_iova_mode_RTE_IOVA_VA;
    let arg = (&mut first_error as *mut Option<ContainerError>).cast();
    // SAFETY: the callbacks match DPDK's walk prototypes and only touch what
    // `map_run` says; the walks take DPDK's memory lock themselves, and no
    // lock of this module is held here (see the module's lock order).
    let ret = unsafe {
        if !dynamic && iova_is_va {
            dpdk_sys::rte_memseg_contig_walk(Some(each_run), arg)
        } else {
            dpdk_sys::rte_memseg_walk(Some(each), arg)
        }
    };
    match first_error {
        Some(err) => Err(err),
        None if ret < 0 => Err(ContainerError::DmaMap {
            iova: 0,
            len: 0,
            source: io::Error::other("rte_memseg_walk failed"),
        }),
        None => Ok(()),
    }
}

/// DPDK's memory events: map what it allocates, unmap what it frees, page by
/// page (each page is a segment of its own, as the walk mapped them).
unsafe extern "C" fn memory_event(
    event: dpdk_sys::rte_mem_event,
    addr: *const c_void,
    len: usize,
    _arg: *mut c_void,
) {
    let map = event == dpdk_sys::rte_mem_event_RTE_MEM_EVENT_ALLOC;
    // SAFETY: DPDK holds its memory lock around the callback, so the lookup
    // (which takes none) sees the segment list as it is; addr is DPDK's.
    let msl = unsafe { dpdk_sys::rte_mem_virt2memseg_list(addr) };
    if msl.is_null() {
        return;
    }
    // SAFETY: non-null list pointer from DPDK, alive while its lock is held.
    let page = unsafe { (*msl).page_sz }.max(1);
    let mut at = addr as u64;
    let end = at.saturating_add(len as u64);
    while at < end {
        // SAFETY: as above; a page address inside the event's range.
        let ms = unsafe { dpdk_sys::rte_mem_virt2memseg(at as *const c_void, msl) };
        if !ms.is_null() {
            // SAFETY: a live segment of the list, read under DPDK's lock.
            let iova = unsafe { (*ms).iova };
            if iova != BAD_IOVA {
                // A failed map cannot be reported from here: the device then
                // faults on that page, and the kernel logs the IOMMU fault.
                let _ = dma(map, at, iova, page);
            }
        }
        at = at.saturating_add(page);
    }
}

/// Registers [`memory_event`] once per process; returns whether DPDK's memory
/// comes and goes after start-up (the registration succeeded).
fn register_callback() -> bool {
    let mut registered = CALLBACK.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(dynamic) = *registered {
        return dynamic;
    }
    let name = c"dpdk-rs-vfio-container";
    // SAFETY: a static name and a callback of the right type that reads only
    // what DPDK passes it and this module's static state; DPDK copies the name.
    let ret = unsafe {
        dpdk_sys::rte_mem_event_callback_register(
            name.as_ptr(),
            Some(memory_event),
            std::ptr::null_mut(),
        )
    };
    // ENOTSUP: legacy memory (and --no-huge, which implies it), where DPDK
    // never allocates or frees segments after start-up, so the walk maps
    // everything there will be.
    let dynamic = ret == 0;
    *registered = Some(dynamic);
    dynamic
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The generic `_IO` encoding gives the numbers `<linux/vfio.h>` gives
    /// (read through the shim, from the installed kernel headers).
    #[test]
    fn ioctl_numbers_match_the_kernel_headers() {
        // SAFETY: the shim functions return constants.
        unsafe {
            assert_eq!(
                vfio_io(3),
                dpdk_sys::dpdk_shim_vfio_ioctl_group_get_status() as u64
            );
            assert_eq!(
                vfio_io(7),
                dpdk_sys::dpdk_shim_vfio_ioctl_get_device_info() as u64
            );
            assert_eq!(
                vfio_io(8),
                dpdk_sys::dpdk_shim_vfio_ioctl_get_region_info() as u64
            );
            assert_eq!(vfio_io(11), dpdk_sys::dpdk_shim_vfio_ioctl_reset() as u64);
        }
        assert_eq!(VFIO_GROUP_GET_DEVICE_FD, 0x3b6a);
        assert_eq!(VFIO_IOMMU_MAP_DMA, 0x3b71);
    }
}
