//! The bindings agree with the library on the types that carry offsets, and the
//! shim's constants agree with the kernel's documented values.

use std::mem::size_of;

use dpdk_sys::*;

/// The `librte_bus_pci` this test is linked with: the static archive with the
/// `static` feature, else the shared library, read from this process's mappings.
#[cfg(feature = "static")]
fn loaded_bus_pci() -> String {
    format!("{}/librte_bus_pci.a", env!("DPDK_SYS_LIBDIR"))
}

#[cfg(not(feature = "static"))]
fn loaded_bus_pci() -> String {
    // Referencing an off_t function makes sure the library is linked and loaded.
    std::hint::black_box(rte_pci_read_config as *const ());
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    maps.lines()
        .filter_map(|line| line.split_whitespace().nth(5))
        .find(|path| path.contains("librte_bus_pci.so"))
        .expect("librte_bus_pci is mapped")
        .to_owned()
}

/// The width of `off_t` the library was built with, from the libc calls it
/// imports: a large-file build calls `pread64`/`mmap64`, a plain 32-bit build
/// calls `pread`/`mmap`.
fn library_off_t_bits(path: &str) -> usize {
    let out = std::process::Command::new("nm")
        .args(if path.ends_with(".a") {
            vec!["--undefined-only", path]
        } else {
            vec!["-D", "--undefined-only", path]
        })
        .output()
        .expect("nm (binutils) runs");
    assert!(out.status.success(), "nm failed on {path}");
    let text = String::from_utf8_lossy(&out.stdout);
    let imports: Vec<&str> = text
        .lines()
        .filter_map(|l| l.split_whitespace().last())
        .map(|sym| sym.split('@').next().unwrap())
        .collect();
    let large = imports.iter().any(|s| *s == "pread64" || *s == "mmap64");
    let plain = imports.iter().any(|s| *s == "pread" || *s == "mmap");
    assert!(large || plain, "{path} imports neither pread nor pread64");
    if large {
        64
    } else {
        usize::BITS as usize
    }
}

#[test]
fn off_t_matches_the_library() {
    let lib = loaded_bus_pci();
    let lib_bits = library_off_t_bits(&lib);
    assert_eq!(
        off_t::BITS as usize,
        lib_bits,
        "bindings' off_t differs from the one {lib} was built with"
    );
    assert_eq!(
        // SAFETY: a constant getter.
        unsafe { dpdk_shim_off_t_size() },
        size_of::<off_t>(),
        "shim and bindings"
    );
}

#[test]
fn vfio_ioctl_numbers_match_the_kernel_abi() {
    // _IO(';', 100 + n): type 0x3b in bits 8..15, number in bits 0..7.
    let io = |n: u64| (0x3b << 8) | (100 + n);
    // SAFETY: constant getters.
    unsafe {
        assert_eq!(dpdk_shim_vfio_ioctl_group_get_status() as u64, io(3));
        assert_eq!(dpdk_shim_vfio_ioctl_get_device_info() as u64, io(7));
        assert_eq!(dpdk_shim_vfio_ioctl_get_region_info() as u64, io(8));
        assert_eq!(dpdk_shim_vfio_ioctl_get_irq_info() as u64, io(9));
        assert_eq!(dpdk_shim_vfio_ioctl_set_irqs() as u64, io(10));
        assert_eq!(dpdk_shim_vfio_ioctl_reset() as u64, io(11));
    }
}

#[test]
fn vfio_structs_have_the_kernel_layout() {
    assert_eq!(size_of::<vfio_region_info>(), 32);
    assert_eq!(size_of::<vfio_info_cap_header>(), 8);
    // argsz, flags, num_regions, num_irqs, cap_offset (since Linux 5.x), and a
    // trailing pad in the headers of Linux 6.6+ (Debian 13): 20 or 24 bytes.
    assert_eq!(std::mem::offset_of!(vfio_device_info, num_regions), 8);
    assert_eq!(std::mem::offset_of!(vfio_device_info, num_irqs), 12);
    assert_eq!(std::mem::offset_of!(vfio_device_info, cap_offset), 16);
    assert!(matches!(size_of::<vfio_device_info>(), 20 | 24));
    assert_eq!(VFIO_PCI_BAR0_REGION_INDEX, 0);
    assert_eq!(VFIO_PCI_ROM_REGION_INDEX, 6);
    assert_eq!(VFIO_PCI_CONFIG_REGION_INDEX, 7);
}
