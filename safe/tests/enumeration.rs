//! DPDK's PCI bus scans a fake sysfs tree; the crate reports every field as the
//! tree says. Each EAL runs in a child process with `SYSFS_PCI_DEVICES` set, so
//! the host's real PCI bus is never scanned.

mod common;

use common::{base_builder, child_passes, is_child};
use dpdk_safe::testing::{FakeDevice, FakePciTree, FLAGS_IO, FLAGS_MEM32, FLAGS_MEM64_PREFETCH};
use dpdk_safe::{BarIndex, BarKind, DeviceError, KernelDriver, PciAddress, RegionIndex};

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
            .bar(BarIndex::BAR0, 0xfea0_0000, 1 << 20, FLAGS_MEM32),
        FakeDevice::new(addr("0000:00:04.0"))
            .ids(0x1af4, 0x1110)
            .class(0x050000)
            .numa_node(Some(0))
            .iommu_group(Some(4))
            .bar(BarIndex::BAR0, 0xfeb0_0000, 256, FLAGS_MEM32)
            .bar(BarIndex::BAR2, 0x8_0000_0000, 4 << 20, FLAGS_MEM64_PREFETCH),
        FakeDevice::new(addr("0000:00:05.0"))
            .ids(0x8086, 0x10d3)
            .subsystem(0x8086, 0x0000)
            .class(0x020000)
            .driver(Some("e1000e"))
            .iommu_group(Some(5))
            .bar(BarIndex::BAR0, 0xfeb2_0000, 128 << 10, FLAGS_MEM32)
            .bar(BarIndex::BAR1, 0xfeb4_0000, 128 << 10, FLAGS_MEM32)
            .bar(BarIndex::BAR2, 0xc000, 32, FLAGS_IO)
            .bar(BarIndex::BAR3, 0xfeb6_0000, 16 << 10, FLAGS_MEM32)
            .rom(0xfeb8_0000, 256 << 10),
        FakeDevice::new(addr("0000:01:00.0"))
            .ids(0x1234, 0xbeef)
            .class(0x078000)
            .driver(Some("uio_pci_generic"))
            .numa_node(Some(1))
            .bar(BarIndex::BAR4, 0xd000, 256, FLAGS_IO),
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
        assert_eq!(dev.class.code(), fake.class, "{ctx}");
        assert_eq!(dev.numa_node, fake.numa_node.map(|n| n as u32), "{ctx}");
        assert_eq!(
            dev.kernel_driver_name(),
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
                        (bar.region, bar.start, bar.len),
                        (RegionIndex::bar(i as u32).unwrap(), start, len),
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
    assert_eq!(devices[0].kernel_driver, Some(KernelDriver::VfioPci));
    assert_eq!(devices[3].kernel_driver, Some(KernelDriver::UioPciGeneric));
    assert_eq!(devices[4].kernel_driver, Some(KernelDriver::IgbUio));

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

/// In the parent: builds a tree with `build`, runs test `name` in a child over
/// it and returns false. In the child: returns true, and the test body runs.
fn in_child_over(name: &str, build: impl FnOnce(&FakePciTree)) -> bool {
    if is_child(name) {
        return true;
    }
    let tree = FakePciTree::new().unwrap();
    build(&tree);
    child_passes(
        name,
        &[("SYSFS_PCI_DEVICES", tree.devices_dir().to_str().unwrap())],
    );
    false
}

/// Directory names, each with a device ID of its own, and the name DPDK's
/// scan (`rte_pci_scan` in drivers/bus/pci/linux/pci.c) gives the device:
/// `None` when the scan skips the directory. The first three are the
/// directories of the fake tree DPDK's own unit tests once used
/// (test/test/test_pci_sysfs); the others are names the scan reads in its own
/// way (fields through strtoul, the function in decimal, values cut to the
/// field's width).
fn odd_names() -> Vec<(&'static str, u16, Option<&'static str>)> {
    let wide_ulong = std::mem::size_of::<std::ffi::c_ulong>() == 8;
    vec![
        ("0000:01:00.0", 0x0100, Some("0000:01:00.0")),
        ("0000:01:02.0", 0x0102, Some("0000:01:02.0")),
        ("0000:02:ab.0", 0x02ab, Some("0000:02:ab.0")),
        ("0000:03:ff.7", 0x03ff, Some("0000:03:ff.7")),
        ("0000:04:00.10", 0x0400, Some("0000:04:00.a")),
        ("0000:04:01.255", 0x0401, Some("0000:04:01.ff")),
        ("ffffffff:ff:1f.7", 0xffff, Some("ffffffff:ff:1f.7")),
        ("10000:05:00.0", 0x0500, Some("10000:05:00.0")),
        ("0:6:3.1", 0x0603, Some("0000:06:03.1")),
        ("0000:07:00.f", 0x0700, Some("0000:07:00.0")),
        ("0000:08:00.1junk", 0x0800, Some("0000:08:00.1")),
        ("0000:09:00.-1", 0x0900, Some("0000:09:00.ff")),
        ("0000:0b:100.0", 0x0b00, Some("0000:0b:00.0")),
        ("0000:0c:00.0:", 0x0c00, Some("0000:0c:00.0")),
        // Wider than 32 bits: cut to the low 32 bits where unsigned long has
        // 64, an overflow (skipped) where it has 32.
        (
            "100000000a:0a:00.0",
            0x0a00,
            if wide_ulong {
                Some("000a:0a:00.0")
            } else {
                None
            },
        ),
        (".0000:0d:00.0", 0x0d00, None),
        ("0000:0d:00:00.0", 0x0d01, None),
        ("0000:0e:00", 0x0e00, None),
        ("0000:0f:00.99999999999999999999999", 0x0f00, None),
        ("not-an-address", 0x1000, None),
    ]
}

/// The names of the devices on DPDK's PCI bus, from DPDK's own iterator.
fn dpdk_bus_names() -> Vec<String> {
    let filter = std::ffi::CString::new("bus=pci").unwrap();
    // SAFETY: all-zero is the state rte_dev_iterator_init expects.
    let mut iterator: dpdk_sys::rte_dev_iterator = unsafe { std::mem::zeroed() };
    // SAFETY: the iterator and the filter outlive the loop below; rte_errno is
    // cleared first because the call returns -rte_errno even on success.
    let ret = unsafe {
        dpdk_sys::dpdk_shim_errno_set(0);
        dpdk_sys::rte_dev_iterator_init(&mut iterator, filter.as_ptr())
    };
    assert_eq!(ret, 0, "rte_dev_iterator_init");
    let mut names = Vec::new();
    loop {
        // SAFETY: the iterator was initialised above and its filter is alive.
        let device = unsafe { dpdk_sys::rte_dev_iterator_next(&mut iterator) };
        if device.is_null() {
            return names;
        }
        // SAFETY: a device DPDK just returned is live, and its name is a
        // NUL-terminated string DPDK owns; it is copied at once.
        let name = unsafe { std::ffi::CStr::from_ptr(dpdk_sys::rte_dev_name(device)) };
        names.push(name.to_str().unwrap().to_owned());
    }
}

#[test]
fn listing_holds_every_device_dpdks_scan_names() {
    let name = "listing_holds_every_device_dpdks_scan_names";
    let placeholder = addr("0000:00:00.0");
    if !in_child_over(name, |tree| {
        for (dir, id, _) in odd_names() {
            let dev = FakeDevice::new(placeholder).ids(0x1234, id);
            tree.add_named(dir, &dev).unwrap();
        }
    }) {
        return;
    }
    let eal = base_builder().init().expect("EAL over the fake tree");
    let mut expected: Vec<(&str, &str, u16)> = odd_names()
        .into_iter()
        .filter_map(|(dir, id, name)| Some((name?, dir, id)))
        .collect();
    expected.sort();
    let names = dpdk_bus_names();
    let wanted: Vec<&str> = expected.iter().map(|e| e.0).collect();
    assert_eq!(names, wanted, "DPDK's scan names the devices so");

    let items: Vec<_> = eal.pci_devices().collect();
    assert_eq!(
        items.len(),
        names.len(),
        "one item per device on DPDK's bus"
    );
    for (item, (name, dir, id)) in items.iter().zip(&expected) {
        let dev = item
            .as_ref()
            .unwrap_or_else(|e| panic!("{name} (directory {dir}): {e:?}"));
        assert_eq!(dev.address.to_string(), *name);
        assert_eq!(dev.ids.device, *id, "{name}: read from directory {dir}");
        assert_eq!(dev.sysfs_path.file_name().unwrap(), *dir, "{name}");
        assert_eq!(eal.pci_device(dev.address).unwrap().ids.device, *id);
    }

    // A malformed file gives an error for its device only; the listing goes on.
    let root = std::path::PathBuf::from(std::env::var("SYSFS_PCI_DEVICES").unwrap());
    std::fs::write(root.join("0000:04:00.10/class"), "0xzz\n").unwrap();
    let items: Vec<_> = eal.pci_devices().collect();
    assert_eq!(items.len(), names.len());
    for (item, (name, dir, _)) in items.iter().zip(&expected) {
        match item {
            Ok(dev) => assert_ne!(*dir, "0000:04:00.10", "{dev:?}"),
            Err(e) => {
                assert_eq!(*dir, "0000:04:00.10", "{name}: {e}");
                assert!(e.to_string().contains("0000:04:00.10/class"), "{e}");
            }
        }
    }
    assert_eq!(items.iter().filter(|i| i.is_err()).count(), 1);
}

#[test]
fn a_device_allowlisted_by_a_short_name_is_found_in_its_directory() {
    let name = "a_device_allowlisted_by_a_short_name_is_found_in_its_directory";
    if !in_child_over(name, |tree| {
        for dev in fixture() {
            tree.add(&dev).unwrap();
        }
    }) {
        return;
    }
    // DPDK 22.11.0 to 22.11.9 name a device after the allowlist entry that
    // picked it, as written; later releases by its address.
    let eal = base_builder().arg("-a").arg("0:0:4.0").init().unwrap();
    let names = dpdk_bus_names();
    assert!(
        names == ["0:0:4.0"] || names == ["0000:00:04.0"],
        "{names:?}"
    );
    let devices: Vec<_> = eal.pci_devices().collect::<Result<_, _>>().unwrap();
    assert_eq!(devices.len(), 1);
    assert_eq!(devices[0].address, addr("0000:00:04.0"));
    assert_eq!(devices[0].ids.device, 0x1110);
    assert_eq!(
        devices[0].sysfs_path.file_name().unwrap(),
        "0000:00:04.0",
        "the directory DPDK's scan read"
    );
}

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n as u64) as usize
    }

    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[self.below(from.len())]
    }
}

/// Directory names shaped like addresses, with the quirks strtoul and the
/// scan's splitting allow, and now and then a wrong separator.
fn generated_names(n: usize) -> Vec<String> {
    let mut rng = Rng(0x5eed_0fd1_5ca7);
    let field = |rng: &mut Rng, digits: &[usize], base10: bool| {
        let mut s = String::new();
        if rng.below(10) == 0 {
            s += rng.pick(&[" ", "\t", "+", "-", "0x", "0X"]);
        }
        let len = digits[rng.below(digits.len())];
        let set = if base10 {
            "0123456789"
        } else {
            "0123456789abcdefABCDEF"
        };
        for _ in 0..len {
            let i = rng.below(set.len());
            s += &set[i..=i];
        }
        if rng.below(10) == 0 {
            s += rng.pick(&["g", " ", "x", ".", "f", "-"]);
        }
        s
    };
    let mut names = Vec::new();
    while names.len() < n {
        let mut s = String::new();
        s += &field(&mut rng, &[1, 4, 4, 4, 5, 8, 9, 17], false);
        s += rng.pick(&[":", ":", ":", ":", ":", ":", ":", ":", ".", "::"]);
        s += &field(&mut rng, &[0, 1, 2, 2, 2, 3], false);
        s += rng.pick(&[":", ":", ":", ":", ":", ":", ":", ":", ".", "::"]);
        s += &field(&mut rng, &[0, 1, 2, 2, 2, 3], false);
        s += rng.pick(&[".", ".", ".", ".", ".", ".", ".", ".", ":", ""]);
        let decimal = rng.below(2) == 0;
        s += &field(&mut rng, &[0, 1, 1, 2, 3, 21], decimal);
        s += rng.pick(&["", "", "", "", "", "", ":", "::", ".0"]);
        if s != "." && s != ".." && !names.contains(&s) {
            names.push(s);
        }
    }
    names
}

#[test]
fn generated_names_scan_as_dpdks_scan_reads_them() {
    let name = "generated_names_scan_as_dpdks_scan_reads_them";
    if !in_child_over(name, |tree| {
        let dev = FakeDevice::new(addr("0000:00:00.0"));
        for dir in generated_names(300) {
            tree.add_named(&dir, &dev).unwrap();
        }
    }) {
        return;
    }
    let eal = base_builder().init().expect("EAL over the fake tree");
    let root = std::path::PathBuf::from(std::env::var("SYSFS_PCI_DEVICES").unwrap());
    let mut ours: Vec<PciAddress> = std::fs::read_dir(&root)
        .unwrap()
        .filter_map(|e| dpdk_safe::parse::scan_address(&e.unwrap().file_name()))
        .collect();
    ours.sort();
    ours.dedup();
    let ours: Vec<String> = ours.iter().map(ToString::to_string).collect();
    let dpdk = dpdk_bus_names();
    assert_eq!(
        ours, dpdk,
        "the crate's reading of the names against DPDK's scan"
    );
    assert!(
        dpdk.len() > 100,
        "only {} devices on DPDK's bus",
        dpdk.len()
    );

    let listed: Vec<String> = eal
        .pci_devices()
        .map(|d| d.expect("every device readable").address.to_string())
        .collect();
    assert_eq!(listed, dpdk);
    println!("{} directories, {} devices on DPDK's bus", 300, dpdk.len());
}
