//! DPDK's PCI bus scans a fake sysfs tree; the crate reports every field as the
//! tree says. Each EAL runs in a child process with `SYSFS_PCI_DEVICES` set, so
//! the host's real PCI bus is never scanned.

mod common;

use common::{base_builder, child_passes, is_child};
use dpdk_safe::pci::{BarKind, DeviceError, KernelDriver, PciAddress};
use dpdk_safe::testing::{FakeDevice, FakePciTree, FLAGS_IO, FLAGS_MEM32, FLAGS_MEM64_PREFETCH};

fn addr(s: &str) -> PciAddress {
    s.parse().unwrap()
}

/// The fixture: IDs chosen so that no DPDK driver claims a vfio-pci device
/// (a claimed fake device would fail to map and fail the EAL's probe).
fn fixture() -> Vec<FakeDevice> {
    vec![
        FakeDevice::new(addr("0000:00:03.0"))
            .ids(0x1234, 0x11e8)
            .subsystem(0x1af4, 0x1100)
            .class(0x00ff00)
            .iommu_group(Some(3))
            .bar(0, 0xfea0_0000, 1 << 20, FLAGS_MEM32),
        FakeDevice::new(addr("0000:00:04.0"))
            .ids(0x1af4, 0x1110)
            .class(0x050000)
            .numa_node(Some(0))
            .iommu_group(Some(4))
            .bar(0, 0xfeb0_0000, 256, FLAGS_MEM32)
            .bar(2, 0x8_0000_0000, 4 << 20, FLAGS_MEM64_PREFETCH),
        FakeDevice::new(addr("0000:00:05.0"))
            .ids(0x8086, 0x10d3)
            .subsystem(0x8086, 0x0000)
            .class(0x020000)
            .driver(Some("e1000e"))
            .iommu_group(Some(5))
            .bar(0, 0xfeb2_0000, 128 << 10, FLAGS_MEM32)
            .bar(1, 0xfeb4_0000, 128 << 10, FLAGS_MEM32)
            .bar(2, 0xc000, 32, FLAGS_IO)
            .bar(3, 0xfeb6_0000, 16 << 10, FLAGS_MEM32)
            .rom(0xfeb8_0000, 256 << 10),
        FakeDevice::new(addr("0000:01:00.0"))
            .ids(0x1234, 0xbeef)
            .class(0x078000)
            .driver(Some("uio_pci_generic"))
            .numa_node(Some(1))
            .bar(4, 0xd000, 256, FLAGS_IO),
        FakeDevice::new(addr("0000:01:00.1"))
            .ids(0x1234, 0xbef0)
            .driver(Some("igb_uio")),
        FakeDevice::new(addr("0000:02:00.0"))
            .ids(0x1234, 0x0002)
            .driver(None),
        FakeDevice::new(addr("0001:00:00.0"))
            .ids(0x1af4, 0x1005)
            .class(0x00ff00)
            .driver(Some("virtio-pci"))
            .iommu_group(Some(12)),
    ]
}

/// In the parent: writes the fixture, runs test `name` in a child over it and
/// returns false. In the child: returns true, and the test body runs.
fn in_child_over_fixture(name: &str) -> bool {
    if is_child(name) {
        return true;
    }
    let tree = FakePciTree::new().unwrap();
    for dev in fixture() {
        tree.add(&dev).unwrap();
    }
    child_passes(
        name,
        &[("SYSFS_PCI_DEVICES", tree.devices_dir().to_str().unwrap())],
    );
    false
}

#[test]
fn every_field_matches_the_tree() {
    if !in_child_over_fixture("every_field_matches_the_tree") {
        return;
    }
    let eal = base_builder().init().expect("EAL over the fake tree");
    let devices: Vec<_> = eal
        .pci_devices()
        .collect::<Result<_, _>>()
        .expect("enumeration");
    let expected: Vec<FakeDevice> = fixture()
        .into_iter()
        .filter(|d| d.driver.is_some())
        .collect();
    let seen: Vec<PciAddress> = devices.iter().map(|d| d.address).collect();
    let wanted: Vec<PciAddress> = expected.iter().map(|d| d.address).collect();
    assert_eq!(
        seen, wanted,
        "DPDK lists every device with a driver link, sorted"
    );

    for (dev, fake) in devices.iter().zip(&expected) {
        let ctx = dev.address;
        assert_eq!(dev.ids.vendor, fake.vendor, "{ctx}");
        assert_eq!(dev.ids.device, fake.device, "{ctx}");
        assert_eq!(dev.ids.subsystem_vendor, fake.subsystem_vendor, "{ctx}");
        assert_eq!(dev.ids.subsystem_device, fake.subsystem_device, "{ctx}");
        assert_eq!(dev.class, fake.class, "{ctx}");
        assert_eq!(dev.numa_node, fake.numa_node.map(|n| n as u32), "{ctx}");
        assert_eq!(
            dev.kernel_driver.to_string(),
            fake.driver.clone().unwrap(),
            "{ctx}"
        );
        assert_eq!(dev.iommu_group, fake.iommu_group, "{ctx}");
        assert_eq!(
            dev.dpdk_driver, None,
            "{ctx}: no DPDK driver claims the fixture"
        );
        for i in 0..6 {
            match (dev.bars[i], fake.resources[i]) {
                (None, None) => {}
                (Some(bar), Some((start, len, flags))) => {
                    assert_eq!(
                        (bar.index as usize, bar.start, bar.len),
                        (i, start, len),
                        "{ctx} BAR{i}"
                    );
                    assert_eq!(bar.kind == BarKind::Io, flags & 0x100 != 0, "{ctx} BAR{i}");
                    assert_eq!(bar.is_64bit, flags & 0x0010_0000 != 0, "{ctx} BAR{i}");
                    assert_eq!(bar.prefetchable, flags & 0x2000 != 0, "{ctx} BAR{i}");
                }
                (got, want) => panic!("{ctx} BAR{i}: got {got:?}, fixture {want:?}"),
            }
        }
        assert_eq!(
            dev.rom.map(|r| (r.start, r.len)),
            fake.resources[6].map(|r| (r.0, r.1)),
            "{ctx}"
        );
    }
    assert_eq!(devices[0].kernel_driver, KernelDriver::VfioPci);
    assert_eq!(devices[3].kernel_driver, KernelDriver::UioPciGeneric);
    assert_eq!(devices[4].kernel_driver, KernelDriver::IgbUio);

    // One device by address; one the tree lacks; one DPDK skipped (no driver).
    assert_eq!(eal.pci_device(addr("00:04.0")).unwrap().ids.device, 0x1110);
    let missing = eal.pci_device(addr("0000:09:00.0")).unwrap_err();
    assert!(matches!(missing, DeviceError::NoSuchDevice(_)), "{missing}");
    assert!(matches!(
        eal.pci_device(addr("0000:02:00.0")),
        Err(DeviceError::NoSuchDevice(_))
    ));
}

#[test]
fn allowlist_limits_the_scan() {
    if !in_child_over_fixture("allowlist_limits_the_scan") {
        return;
    }
    let eal = base_builder().allow(addr("0000:00:04.0")).init().unwrap();
    // DPDK's scan skips every device the allowlist does not name.
    let devices: Vec<_> = eal.pci_devices().collect::<Result<_, _>>().unwrap();
    let seen: Vec<PciAddress> = devices.iter().map(|d| d.address).collect();
    assert_eq!(seen, [addr("0000:00:04.0")]);
}

#[test]
fn probe_and_remove_errors() {
    if !in_child_over_fixture("probe_and_remove_errors") {
        return;
    }
    let mut eal = base_builder().init().unwrap();
    // No DPDK driver matches 1234:11e8.
    let err = eal.probe(addr("0000:00:03.0")).unwrap_err();
    assert!(matches!(err, DeviceError::NoDriver(_)), "{err}");
    assert_eq!(
        err.to_string(),
        "no DPDK driver matches PCI device 0000:00:03.0"
    );
    // Not in the tree at all.
    let err = eal.probe(addr("0000:0a:00.0")).unwrap_err();
    assert!(matches!(err, DeviceError::NoSuchDevice(_)), "{err}");
    // Nothing attached, so nothing to remove.
    let err = eal.remove(addr("0000:00:03.0")).unwrap_err();
    assert!(matches!(err, DeviceError::NotProbed(_)), "{err}");
    let err = eal.remove(addr("0000:0a:00.0")).unwrap_err();
    assert!(matches!(err, DeviceError::NoSuchDevice(_)), "{err}");
}

#[test]
fn malformed_device_gives_an_error_for_that_device_only() {
    if !in_child_over_fixture("malformed_device_gives_an_error_for_that_device_only") {
        return;
    }
    let eal = base_builder().init().unwrap();
    // Damage a file after DPDK's scan: DPDK keeps the device, the crate reports
    // the damage for that device and carries on with the others.
    let root = std::path::PathBuf::from(std::env::var("SYSFS_PCI_DEVICES").unwrap());
    std::fs::write(root.join("0000:00:04.0/class"), "0xzz\n").unwrap();
    let results: Vec<_> = eal.pci_devices().collect();
    assert_eq!(results.len(), 6);
    let bad: Vec<_> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert_eq!(bad.len(), 1);
    let text = bad[0].to_string();
    assert!(
        text.contains("0000:00:04.0/class") && text.contains("\"0xzz\""),
        "{text}"
    );
}
