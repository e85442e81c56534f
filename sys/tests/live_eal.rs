//! Calls through the raw bindings into a real EAL.
//!
//! The EAL starts once per process and its main lcore is the thread that started
//! it, so every check that needs it runs in this one test, in order. It never
//! scans the host's PCI bus: `--no-pci`, and a null network vdev to find.

use std::ffi::{CStr, CString};
use std::os::raw::c_char;

use dpdk_sys::*;

fn eal_args() -> Vec<CString> {
    [
        "live_eal",
        "-l",
        "0",
        "--no-huge",
        "-m",
        "64",
        "--no-shconf",
        "--no-pci",
        "--vdev",
        "net_null0",
        "--log-level",
        "lib.eal:error",
    ]
    .iter()
    .map(|s| CString::new(*s).unwrap())
    .collect()
}

fn init(args: &[CString]) -> i32 {
    let mut argv: Vec<*mut c_char> = args.iter().map(|a| a.as_ptr() as *mut c_char).collect();
    // SAFETY: argv points at NUL-terminated strings that outlive the call; the EAL
    // may permute the pointer array, which is ours and mutable.
    unsafe { rte_eal_init(argv.len() as i32, argv.as_mut_ptr()) }
}

#[test]
fn live_eal() {
    let args = eal_args();
    let consumed = init(&args);
    assert_eq!(
        consumed,
        args.len() as i32 - 1,
        "rte_eal_init consumed every option"
    );

    // Version string and number, through a real function and the shim's macro.
    // SAFETY: rte_version returns a static NUL-terminated string.
    let version = unsafe { CStr::from_ptr(rte_version()) }
        .to_str()
        .unwrap()
        .to_owned();
    // SAFETY: plain getters without arguments.
    let (year, month, num) = unsafe {
        (
            rte_version_year(),
            rte_version_month(),
            dpdk_shim_version_num(),
        )
    };
    assert!(
        version.starts_with(&format!("DPDK {year}.{month:02}")),
        "{version}"
    );
    assert!(year >= 22, "{version}");
    assert_eq!(num >> 24, year, "RTE_VERSION's year byte");
    assert_eq!((num >> 16) & 0xff, month, "RTE_VERSION's month byte");

    // lcores: one lcore (-l 0), this thread is it.
    // SAFETY: lcore getters are callable from the thread that ran rte_eal_init.
    unsafe {
        assert_eq!(rte_lcore_count(), 1);
        assert_eq!(rte_get_main_lcore(), 0);
        assert_eq!(
            rte_lcore_id(),
            0,
            "static inline rte_lcore_id through the wrapper"
        );
        assert!(
            rte_socket_id() < RTE_MAX_NUMA_NODES,
            "socket id {}",
            rte_socket_id()
        );
        assert_eq!(rte_lcore_index(0), 0);
        assert!(
            rte_rdtsc() > 0,
            "static inline rte_rdtsc through the wrapper"
        );
    }

    // rte_errno: write and read back through the shim, then a real error from DPDK.
    // SAFETY: the shim reads and writes this thread's per-lcore errno.
    unsafe {
        dpdk_shim_errno_set(4242);
        assert_eq!(dpdk_shim_errno_get(), 4242);
        dpdk_shim_errno_set(0);
    }
    assert_eq!(init(&args), -1, "a second rte_eal_init fails");
    // SAFETY: as above; rte_strerror returns a static or per-lcore string.
    let (errno, text) = unsafe {
        let errno = dpdk_shim_errno_get();
        (
            errno,
            CStr::from_ptr(rte_strerror(errno))
                .to_string_lossy()
                .into_owned(),
        )
    };
    assert_eq!(
        errno,
        libc::EALREADY,
        "rte_errno after a second init: {text}"
    );
    assert!(!text.is_empty());

    // Device iteration, as RTE_DEV_FOREACH does it, finds the null vdev.
    let filter = CString::new("bus=vdev").unwrap();
    let mut names = Vec::new();
    // SAFETY: the iterator is zero-initialised as DPDK expects, the filter string
    // outlives the iteration, and the device pointers are used before cleanup.
    unsafe {
        let mut it: rte_dev_iterator = std::mem::zeroed();
        // rte_dev_iterator_init returns -rte_errno even on success: clear it first.
        dpdk_shim_errno_set(0);
        assert_eq!(rte_dev_iterator_init(&mut it, filter.as_ptr()), 0);
        loop {
            let dev = rte_dev_iterator_next(&mut it);
            if dev.is_null() {
                break;
            }
            names.push(
                CStr::from_ptr(rte_dev_name(dev))
                    .to_string_lossy()
                    .into_owned(),
            );
        }
    }
    assert_eq!(names, ["net_null0"]);

    // SAFETY: no DPDK object is used after this point.
    assert_eq!(unsafe { rte_eal_cleanup() }, 0);
}
