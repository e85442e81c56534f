//! BAR access over VFIO on QEMU's emulated devices, inside the test VM
//! (`tools/vm-tests.sh` boots it and runs these with `--ignored`, as x86_64 and
//! as i686). Each test starts its own EAL in a child process, allowlisting the
//! device it uses.
//!
//! Devices (tools/vm/run.sh): edu 0000:00:03.0, ivshmem-plain 0000:00:04.0
//! (BAR2 backed by a host file), e1000e 0000:00:05.0.

mod common;

use common::{base_builder, in_vm_child};
use dpdk_safe::Eal;
use dpdk_safe::{AccessError, ConfigRegisters, OpenError, RegionIndex, RegionIo, Registers};
use dpdk_safe::{KernelDriver, PciAddress};

const EDU: &str = "0000:00:03.0";
const IVSHMEM: &str = "0000:00:04.0";
const E1000E: &str = "0000:00:05.0";

fn addr(s: &str) -> PciAddress {
    s.parse().unwrap()
}

fn eal_for(devices: &[&str]) -> Eal {
    let mut builder = base_builder();
    for d in devices {
        builder = builder.allow(addr(d));
    }
    builder
        .init()
        .expect("EAL with the VM's devices allowlisted")
}

/// 64-bit regions offsets are `index << 40`: BAR1..5 lie beyond 4 GiB.
fn check_region_offsets(dev: &dpdk_safe::VfioDevice<'_>) {
    for n in 0..6 {
        let info = dev.region_info(RegionIndex::bar(n).unwrap()).unwrap();
        assert_eq!(info.offset, u64::from(n) << 40, "BAR{n} offset");
    }
    assert_eq!(dev.region_info(RegionIndex::Rom).unwrap().offset, 6 << 40);
    assert_eq!(
        dev.region_info(RegionIndex::Config).unwrap().offset,
        7 << 40
    );
}

/// edu's liveness register returns the complement of what was written.
fn edu_liveness(bar: &RegionIo<'_>) {
    for v in [0u32, 0x1234_5678, 0xffff_ffff] {
        bar.write32(0x04, v).unwrap();
        assert_eq!(bar.read32(0x04).unwrap(), !v);
    }
}

#[test]
#[ignore = "needs the VM: tools/vm-tests.sh"]
fn edu_through_pread_and_pwrite() {
    in_vm_child("edu_through_pread_and_pwrite", || {
        let eal = eal_for(&[EDU]);
        let pci = eal.pci_device(addr(EDU)).unwrap();
        assert_eq!((pci.ids.vendor, pci.ids.device), (0x1234, 0x11e8));
        assert_eq!(pci.kernel_driver, Some(KernelDriver::VfioPci));
        assert_eq!(pci.bars[0].unwrap().len, 1 << 20);

        let dev = eal.vfio_open(addr(EDU)).unwrap();
        assert_eq!(dev.num_regions(), 9);
        check_region_offsets(&dev);
        let config = dev.config().unwrap();
        assert_eq!(config.read16(0).unwrap(), 0x1234);
        assert_eq!(config.read16(2).unwrap(), 0x11e8);

        let bar = dev.region(RegionIndex::BAR0).unwrap();
        let info = dev.region_info(RegionIndex::BAR0).unwrap();
        assert_eq!(bar.window().size(), info.size);
        assert_eq!(
            (
                info.size,
                info.flags.readable,
                info.flags.writable,
                info.flags.mmap
            ),
            (1 << 20, true, true, true)
        );
        assert_eq!(bar.read32(0x00).unwrap(), 0x010000ed, "edu ID register");
        edu_liveness(&bar);
        // Factorial: write n, wait for the busy bit (0x20 bit 0) to clear, read n!.
        bar.write32(0x08, 10).unwrap();
        let mut spins = 0;
        while bar.read32(0x20).unwrap() & 1 != 0 {
            spins += 1;
            assert!(spins < 1_000_000, "factorial never finished");
        }
        assert_eq!(bar.read32(0x08).unwrap(), 3_628_800);

        // Bad inputs against the real device.
        assert!(matches!(
            bar.read32(1 << 20),
            Err(AccessError::OutOfBounds { .. })
        ));
        assert!(matches!(bar.read32(2), Err(AccessError::Unaligned { .. })));
        // An unimplemented BAR: vfio-pci reports size 0 and no flags at all,
        // so the access is refused as not readable before any bounds check.
        let empty = dev.region(RegionIndex::BAR1).unwrap();
        assert_eq!(empty.window().size(), 0);
        let empty_info = dev.region_info(RegionIndex::BAR1).unwrap();
        assert_eq!(
            (
                empty_info.flags.readable,
                empty_info.flags.writable,
                empty_info.flags.mmap
            ),
            (false, false, false)
        );
        assert!(matches!(
            empty.read32(0),
            Err(AccessError::NotReadable {
                region: RegionIndex::BAR1
            })
        ));
        drop(dev);
        // Released: DPDK can open it again.
        let again = eal.vfio_open(addr(EDU)).unwrap();
        assert_eq!(
            again.region(RegionIndex::BAR0).unwrap().read32(0).unwrap(),
            0x010000ed
        );
    });
}

#[cfg(target_pointer_width = "64")]
#[test]
#[ignore = "needs the VM: tools/vm-tests.sh"]
fn edu_through_a_mapping() {
    in_vm_child("edu_through_a_mapping", || {
        let eal = eal_for(&[EDU]);
        let dev = eal.vfio_open(addr(EDU)).unwrap();
        let bar = dev.map_bar(RegionIndex::BAR0).unwrap();
        assert_eq!(bar.mapped_ranges(), vec![0..(1 << 20)]);
        assert_eq!(bar.read32(0).unwrap(), 0x010000ed);
        bar.write32(0x04, 0xa5a5_0000).unwrap();
        assert_eq!(bar.read32(0x04).unwrap(), !0xa5a5_0000);
        let regs = bar.fixed::<0x100>().unwrap();
        assert_eq!(regs.read32::<0x00>(), 0x010000ed);
        regs.write32::<0x04>(7);
        assert_eq!(regs.read32::<0x04>(), !7);
    });
}

#[test]
#[ignore = "needs the VM: tools/vm-tests.sh"]
fn ivshmem_bar2_reaches_the_host_file() {
    in_vm_child("ivshmem_bar2_reaches_the_host_file", || {
        let pattern = std::env::var("DPDK_RS_IVSHMEM_PATTERN").expect("the host's pattern");
        let marker = std::env::var("DPDK_RS_GUEST_MARKER").expect("what to write back");
        let marker_at: u64 = std::env::var("DPDK_RS_GUEST_MARKER_AT")
            .unwrap()
            .parse()
            .unwrap();
        let eal = eal_for(&[IVSHMEM]);
        let dev = eal.vfio_open(addr(IVSHMEM)).unwrap();
        check_region_offsets(&dev);
        let bar2 = dev.region(RegionIndex::BAR2).unwrap();
        assert_eq!(bar2.file_offset(), 2 << 40);
        assert!(bar2.window().size() >= 1 << 20);
        let mut seen = vec![0u8; pattern.len()];
        bar2.read_bytes(0, &mut seen).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&seen),
            pattern,
            "BAR2 through pread64"
        );
        // BAR0 is ivshmem's register block, not the file: a truncated offset would read it.
        let bar0 = dev.region(RegionIndex::BAR0).unwrap();
        assert_eq!(bar0.window().size(), 256);
        bar2.write_bytes(marker_at, marker.as_bytes()).unwrap();
        #[cfg(target_pointer_width = "64")]
        {
            let mapped = dev.map_bar(RegionIndex::BAR2).unwrap();
            let first = mapped.read32(0).unwrap();
            assert_eq!(first.to_le_bytes(), seen[..4], "BAR2 through mmap64");
            let word = mapped.read32(marker_at).unwrap();
            assert_eq!(&word.to_le_bytes()[..], &marker.as_bytes()[..4]);
        }
    });
}

#[test]
#[ignore = "needs the VM: tools/vm-tests.sh"]
fn e1000e_bar_layout_and_msix_table() {
    in_vm_child("e1000e_bar_layout_and_msix_table", || {
        let mut eal = eal_for(&[E1000E]);
        if eal.vfio_backend() == dpdk_safe::VfioBackend::Crate {
            // DPDK's e1000 driver took the e1000e at start-up: its group is in
            // DPDK's container until DPDK lets the device go.
            let err = eal.vfio_open(addr(E1000E)).unwrap_err();
            assert!(
                matches!(&err, OpenError::DrivenByDpdk { driver, .. } if driver.contains("e1000")),
                "{err}"
            );
            assert!(err.to_string().contains("Eal::remove"), "{err}");
            eal.remove(addr(E1000E)).unwrap();
        }
        let dev = eal.vfio_open(addr(E1000E)).unwrap();
        let sizes: Vec<u64> = (0..6)
            .map(|n| dev.region_info(RegionIndex::bar(n).unwrap()).unwrap().size)
            .collect();
        assert_eq!(sizes, [128 << 10, 128 << 10, 32, 16 << 10, 0, 0]);
        let io = dev.region_info(RegionIndex::BAR2).unwrap();
        assert!(!io.flags.mmap, "an I/O port BAR is not mappable");
        // The I/O BAR is the indirect window of the 8254x family: IOADDR at 0
        // selects a register, IODATA at 4 reads it. Select STATUS (0x8) and
        // compare with STATUS read through the memory BAR.
        let io_bar = dev.region(RegionIndex::BAR2).unwrap();
        io_bar.write32(0, 0x8).unwrap();
        assert_eq!(
            io_bar.read32(0).unwrap(),
            0x8,
            "IOADDR holds what was written"
        );
        let status = dev.region(RegionIndex::BAR0).unwrap().read32(0x8).unwrap();
        assert_eq!(io_bar.read32(4).unwrap(), status, "IODATA is STATUS");
        let table = dev.msix_table().unwrap().expect("e1000e has MSI-X");
        assert_eq!((table.bir, table.range.start, table.entries), (3, 0, 5));
        assert_eq!(table.bar(), Ok(dpdk_safe::BarIndex::BAR3));
        let config = dev.config().unwrap();
        assert_eq!(config.read16(2).unwrap(), 0x10d3);
        // QEMU gives the e1000e its option ROM: an expansion ROM header
        // starts with 0x55 0xaa, the ROM BAR's size is a power of two.
        let rom = dev.region(RegionIndex::Rom).unwrap();
        let info = dev.region_info(RegionIndex::Rom).unwrap();
        assert!(info.size.is_power_of_two() && info.size >= 2048, "{info:?}");
        assert!(info.flags.readable && !info.flags.writable, "{info:?}");
        let mut signature = [0u8; 2];
        rom.read_bytes(0, &mut signature).unwrap();
        assert_eq!(signature, [0x55, 0xaa], "expansion ROM signature");
        #[cfg(target_pointer_width = "64")]
        {
            // Linux 4.16 and later report the MSI-X table mappable on a BAR
            // that can be mapped at all (VFIO_REGION_INFO_CAP_MSIX_MAPPABLE):
            // the whole BAR is mapped. (The other case, pages left out, is
            // covered by the mapping unit tests.)
            let bar3 = dev.map_bar(RegionIndex::BAR3).unwrap();
            let info = dev.region_info(RegionIndex::BAR3).unwrap();
            assert!(info.msix_mappable, "{info:?}");
            assert_eq!(info.sparse_mmap, None);
            assert_eq!(bar3.mapped_ranges(), vec![0..(16 << 10)]);
            // Entry 0 after reset: address 0, vector control's mask bit set
            // (PCI spec); the pending bits (PBA, at 0x2000) all clear.
            assert_eq!(bar3.read32(0).unwrap(), 0, "entry 0 address");
            assert_eq!(bar3.read32(12).unwrap() & 1, 1, "entry 0 masked");
            assert_eq!(bar3.read32(0x2000).unwrap(), 0, "no vector pending");
        }
    });
}

#[test]
#[ignore = "needs the VM: tools/vm-tests.sh"]
fn opening_the_wrong_device_gives_typed_errors() {
    in_vm_child("opening_the_wrong_device_gives_typed_errors", || {
        let eal = eal_for(&[EDU]);
        // The ISA bridge is bound to its own driver or none, never to vfio-pci.
        let err = eal.vfio_open(addr("0000:00:1f.0")).unwrap_err();
        assert!(matches!(err, OpenError::NotBoundToVfio { .. }), "{err}");
        assert!(err.to_string().contains("vfio-pci"), "{err}");
        let err = eal.vfio_open(addr("0000:00:1e.0")).unwrap_err();
        assert!(matches!(err, OpenError::NoSuchDevice(..)), "{err}");
        // Twice the same device: DPDK hands out a second device file in the
        // same group (vfio-pci counts the opens); both reach the device, and
        // releasing one leaves the other working.
        let first = eal.vfio_open(addr(EDU)).unwrap();
        let second = eal.vfio_open(addr(EDU)).unwrap();
        assert_eq!(second.iommu_group(), first.iommu_group());
        for dev in [&first, &second] {
            let bar = dev.region(RegionIndex::BAR0).unwrap();
            assert_eq!(bar.read32(0).unwrap(), 0x010000ed);
        }
        drop(second);
        let bar = first.region(RegionIndex::BAR0).unwrap();
        assert_eq!(bar.read32(0).unwrap(), 0x010000ed, "the first still works");
    });
}

/// The backend the test run asked for (DPDK_RS_VFIO_BACKEND) is the one in
/// use; devices of two IOMMU groups open side by side, each keeps working when
/// the other closes, and a group that left the container can join it again.
#[test]
#[ignore = "needs the VM: tools/vm-tests.sh"]
fn devices_of_two_groups_open_close_and_reopen() {
    in_vm_child("devices_of_two_groups_open_close_and_reopen", || {
        let eal = eal_for(&[EDU, IVSHMEM]);
        let want = match std::env::var("DPDK_RS_VFIO_BACKEND").as_deref() {
            Ok("crate") => dpdk_safe::VfioBackend::Crate,
            Ok(_) => dpdk_safe::VfioBackend::Dpdk,
            Err(_) => dpdk_safe::VfioBackend::default_for_this_dpdk(),
        };
        assert_eq!(eal.vfio_backend(), want);
        let edu_id = |dev: &dpdk_safe::VfioDevice<'_>| dev.config().unwrap().read32(0).unwrap();
        for _ in 0..2 {
            let edu = eal.vfio_open(addr(EDU)).unwrap();
            let ivshmem = eal.vfio_open(addr(IVSHMEM)).unwrap();
            assert_ne!(edu.iommu_group(), ivshmem.iommu_group());
            assert_eq!(edu_id(&edu), 0x11e8_1234);
            drop(edu);
            assert_eq!(edu_id(&ivshmem), 0x1110_1af4, "ivshmem after edu closed");
            let edu = eal.vfio_open(addr(EDU)).unwrap();
            drop(ivshmem);
            assert_eq!(edu_id(&edu), 0x11e8_1234, "edu after ivshmem closed");
        }
    });
}

#[test]
#[ignore = "needs the VM: tools/vm-tests.sh"]
fn e1000e_probe_and_remove_through_dpdk() {
    in_vm_child("e1000e_probe_and_remove_through_dpdk", || {
        use dpdk_safe::DeviceError;
        // Allowlisted, the e1000e is taken by DPDK's own e1000 driver at start-up.
        let mut eal = eal_for(&[E1000E]);
        let dev = eal.pci_device(addr(E1000E)).unwrap();
        assert_eq!(dev.dpdk_driver.as_deref(), Some("net_e1000_em"));
        let err = eal.probe(addr(E1000E)).unwrap_err();
        assert!(matches!(err, DeviceError::AlreadyProbed(_)), "{err}");
        eal.remove(addr(E1000E)).unwrap();
        // DPDK drops a removed device from its bus; a probe scans it back in.
        let err = eal.remove(addr(E1000E)).unwrap_err();
        assert!(matches!(err, DeviceError::NoSuchDevice(_)), "{err}");
        eal.probe(addr(E1000E)).unwrap();
        assert_eq!(
            eal.pci_device(addr(E1000E)).unwrap().dpdk_driver.as_deref(),
            Some("net_e1000_em")
        );
        eal.remove(addr(E1000E)).unwrap();
        // edu: no DPDK driver matches it.
        // The scan lists it (bound to vfio-pci), no driver takes it.
        let eal_edu_err = eal.probe(addr(EDU)).unwrap_err();
        assert!(
            matches!(eal_edu_err, DeviceError::NoDriver(a) if a == addr(EDU)),
            "{eal_edu_err}"
        );
    });
}

/// One removal-request subscription per device and process; none on a device
/// that one of DPDK's drivers probed (DPDK holds its request trigger).
#[test]
#[ignore = "needs the VM: tools/vm-tests.sh"]
fn removal_request_subscriptions_are_one_per_device_and_not_on_dpdks() {
    in_vm_child(
        "removal_request_subscriptions_are_one_per_device_and_not_on_dpdks",
        || {
            use dpdk_safe::RequestError;
            let mut eal = eal_for(&[EDU, E1000E]);
            let dev = eal.vfio_open(addr(EDU)).unwrap();
            let first = dev.removal_requests().unwrap();
            let err = dev.removal_requests().unwrap_err();
            assert!(
                matches!(err, RequestError::AlreadySubscribed { address } if address == addr(EDU)),
                "{err}"
            );
            let other = eal.vfio_open(addr(EDU)).unwrap();
            let err = other.removal_requests().unwrap_err();
            assert!(
                matches!(err, RequestError::AlreadySubscribed { .. }),
                "{err}"
            );
            drop(other);
            drop(first);
            let again = dev
                .removal_requests()
                .expect("free again once the first subscription is dropped");
            drop(again);
            drop(dev);
            // The e1000e: DPDK's e1000 driver took it at start-up.
            eal.probe(addr(E1000E)).ok();
            let probed_by = eal.pci_device(addr(E1000E)).unwrap().dpdk_driver;
            assert!(probed_by.is_some(), "DPDK's e1000 driver probed the e1000e");
            if eal.vfio_backend() == dpdk_safe::VfioBackend::Crate {
                let err = eal.vfio_open(addr(E1000E)).unwrap_err();
                assert!(matches!(err, OpenError::DrivenByDpdk { .. }), "{err}");
                return;
            }
            let nic = eal.vfio_open(addr(E1000E)).unwrap();
            let err = nic.removal_requests().unwrap_err();
            assert!(
                matches!(&err, RequestError::ProbedByDpdk { driver, .. } if Some(driver) == probed_by.as_ref()),
                "{err}"
            );
        },
    );
}

/// Descriptors of this process pointing at `/dev/vfio/GROUP` and at VFIO
/// device files.
fn vfio_fds(group: u32) -> (usize, usize) {
    let (mut groups, mut devices) = (0, 0);
    for entry in std::fs::read_dir("/proc/self/fd").unwrap().flatten() {
        let Ok(target) = std::fs::read_link(entry.path()) else {
            continue;
        };
        let target = target.to_string_lossy().into_owned();
        if target == format!("/dev/vfio/{group}") {
            groups += 1;
        } else if target.contains("vfio-device") {
            devices += 1;
        }
    }
    (groups, devices)
}

/// DPDK's release looks the IOMMU group up through sysfs again; when the
/// device's entry is gone by then, the device and group descriptors are
/// still closed.
#[test]
#[ignore = "needs the VM: tools/vm-tests.sh"]
fn a_device_whose_sysfs_entry_went_away_is_released_whole() {
    const NAME: &str = "a_device_whose_sysfs_entry_went_away_is_released_whole";
    if !common::is_child(NAME) {
        // A tree of links to the real devices, which the child removes.
        let tree = std::env::temp_dir().join(format!("dpdk-rs-linktree-{}", std::process::id()));
        std::fs::create_dir_all(&tree).unwrap();
        std::os::unix::fs::symlink(format!("/sys/bus/pci/devices/{EDU}"), tree.join(EDU)).unwrap();
        common::vm_child_passes(NAME, &tree);
        let _ = std::fs::remove_dir_all(&tree);
        return;
    }
    let eal = eal_for(&[EDU]);
    let dev = eal.vfio_open(addr(EDU)).unwrap();
    let group = dev.iommu_group();
    assert_eq!(vfio_fds(group), (1, 1), "open: the group and the device");
    let link = std::path::PathBuf::from(std::env::var("SYSFS_PCI_DEVICES").unwrap()).join(EDU);
    std::fs::remove_file(link).unwrap();
    drop(dev);
    assert_eq!(
        vfio_fds(group),
        (0, 0),
        "released: neither the device's nor the group's descriptor is left"
    );
    // The group can be set up again (DPDK no longer counts it).
    let tree = std::env::var("SYSFS_PCI_DEVICES").unwrap();
    std::os::unix::fs::symlink(
        format!("/sys/bus/pci/devices/{EDU}"),
        format!("{tree}/{EDU}"),
    )
    .unwrap();
    let again = eal.vfio_open(addr(EDU)).unwrap();
    assert_eq!(vfio_fds(group), (1, 1));
    drop(again);
}

/// vfio-pci makes a mapped access fault with SIGBUS while the device's memory
/// decoding is off (Command register bit 1): the documented behaviour of
/// `MappedRegion` (the process dies; nothing undefined happens).
#[cfg(target_pointer_width = "64")]
#[test]
#[ignore = "needs the VM: tools/vm-tests.sh"]
fn a_mapped_access_with_memory_decoding_off_is_sigbus() {
    use std::os::unix::fs::FileExt;
    use std::os::unix::process::ExitStatusExt;
    const NAME: &str = "a_mapped_access_with_memory_decoding_off_is_sigbus";
    if !common::is_child(NAME) {
        let config = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(format!("/sys/bus/pci/devices/{EDU}/config"))
            .unwrap();
        let mut command = [0u8; 2];
        config.read_exact_at(&mut command, 4).unwrap();
        let out = common::run_child(NAME, &[("SYSFS_PCI_DEVICES", "/sys/bus/pci/devices")]);
        // Memory decoding back on for the tests after this one.
        config.write_all_at(&command, 4).unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        println!("{text}");
        assert!(text.contains("mapped read before: 010000ed"), "{text}");
        assert_eq!(
            out.status.signal(),
            Some(libc::SIGBUS),
            "the access after clearing memory decoding: {:?}",
            out.status
        );
        return;
    }
    let eal = eal_for(&[EDU]);
    let dev = eal.vfio_open(addr(EDU)).unwrap();
    let bar = dev.map_bar(RegionIndex::BAR0).unwrap();
    println!("mapped read before: {:08x}", bar.read32(0).unwrap());
    let config = dev.config().unwrap();
    let command = config.read16(4).unwrap();
    config.write16(4, command & !0x2).unwrap();
    use std::io::Write;
    std::io::stdout().flush().unwrap();
    let value = bar.read32(0);
    println!("mapped read after: {value:?} (no SIGBUS)");
}
