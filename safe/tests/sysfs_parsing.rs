//! Reading device directories of fake sysfs trees: every field, and malformed
//! files that must give an error naming the file.

use dpdk_safe::list_device_dirs;
use dpdk_safe::parse::{device_dir, parse_resource, scan_address};
use dpdk_safe::testing::{FakeDevice, FakePciTree, FLAGS_IO, FLAGS_MEM32, FLAGS_MEM64_PREFETCH};
use dpdk_safe::{
    BarIndex, BarKind, KernelDriver, PciAddress, PciClass, RegionIndex, SysfsDevice,
    SysfsErrorKind as K,
};

fn addr(s: &str) -> PciAddress {
    s.parse().unwrap()
}

fn read(tree: &FakePciTree, a: &str) -> Result<SysfsDevice, dpdk_safe::SysfsError> {
    SysfsDevice::read(&tree.devices_dir().join(a))
}

#[test]
fn fields_read_back_as_written() {
    let tree = FakePciTree::new().unwrap();
    tree.add(
        &FakeDevice::new(addr("0000:00:04.0"))
            .ids(0x1af4, 0x1110)
            .subsystem(0x1af4, 0x1100)
            .class(0x050000)
            .numa_node(Some(1))
            .iommu_group(Some(7))
            .bar(BarIndex::BAR0, 0xfeb0_0000, 256, FLAGS_MEM32)
            .bar(BarIndex::BAR2, 0x8_0000_0000, 1 << 32, FLAGS_MEM64_PREFETCH)
            .bar(BarIndex::BAR4, 0xc000, 32, FLAGS_IO)
            .rom(0xfeb8_0000, 256 << 10),
    )
    .unwrap();
    let d = read(&tree, "0000:00:04.0").unwrap();
    assert_eq!(d.address, addr("0000:00:04.0"));
    assert_eq!(
        (
            d.ids.vendor,
            d.ids.device,
            d.ids.subsystem_vendor,
            d.ids.subsystem_device
        ),
        (0x1af4, 0x1110, 0x1af4, 0x1100)
    );
    assert_eq!(d.class, PciClass::new(0x050000));
    assert_eq!(
        (d.class.base(), d.class.subclass(), d.class.prog_if()),
        (5, 0, 0)
    );
    assert_eq!(d.numa_node, Some(1));
    assert_eq!(d.kernel_driver, Some(KernelDriver::VfioPci));
    assert_eq!(d.iommu_group, Some(7));
    let bar0 = d.bars[0].unwrap();
    assert_eq!(
        (
            bar0.start,
            bar0.len,
            bar0.kind,
            bar0.is_64bit,
            bar0.prefetchable
        ),
        (0xfeb0_0000, 256, BarKind::Memory, false, false)
    );
    assert_eq!(d.bars[1], None);
    let bar2 = d.bars[2].unwrap();
    assert_eq!(
        (
            bar2.region,
            bar2.start,
            bar2.len,
            bar2.is_64bit,
            bar2.prefetchable
        ),
        (RegionIndex::BAR2, 0x8_0000_0000, 1 << 32, true, true)
    );
    assert_eq!(d.bars[3], None, "upper half of the 64-bit BAR");
    assert_eq!(d.bars[4].unwrap().kind, BarKind::Io);
    assert_eq!(d.bars[5], None);
    assert_eq!(
        d.rom.map(|r| (r.region, r.len)),
        Some((RegionIndex::Rom, 256 << 10))
    );
    assert_eq!(d.bar(BarIndex::BAR2), d.bars[2].as_ref());

    tree.add(
        &FakeDevice::new(addr("0000:00:05.0"))
            .driver(None)
            .numa_node(None),
    )
    .unwrap();
    let d = read(&tree, "0000:00:05.0").unwrap();
    assert_eq!(
        (d.kernel_driver, d.numa_node, d.iommu_group),
        (None, None, None)
    );
    assert!(d.bars.iter().all(Option::is_none) && d.rom.is_none());

    for (driver, expected) in [
        ("uio_pci_generic", KernelDriver::UioPciGeneric),
        ("igb_uio", KernelDriver::IgbUio),
        ("virtio-pci", KernelDriver::Other("virtio-pci".into())),
    ] {
        let tree = FakePciTree::new().unwrap();
        tree.add(&FakeDevice::new(addr("0000:00:06.0")).driver(Some(driver)))
            .unwrap();
        let d = read(&tree, "0000:00:06.0").unwrap();
        assert_eq!(d.kernel_driver_name(), driver);
        assert_eq!(d.kernel_driver, Some(expected));
    }
}

#[test]
fn listing_is_sorted_and_skips_foreign_entries() {
    let tree = FakePciTree::new().unwrap();
    for a in [
        "0000:01:00.0",
        "0000:00:1f.7",
        "0001:00:00.0",
        "0000:00:02.0",
    ] {
        tree.add(&FakeDevice::new(addr(a))).unwrap();
    }
    std::fs::create_dir(tree.devices_dir().join("not-a-device")).unwrap();
    let list: Vec<String> = list_device_dirs(tree.devices_dir())
        .unwrap()
        .iter()
        .map(|(a, _)| a.to_string())
        .collect();
    assert_eq!(
        list,
        [
            "0000:00:02.0",
            "0000:00:1f.7",
            "0000:01:00.0",
            "0001:00:00.0"
        ]
    );
    let missing = list_device_dirs(&tree.devices_dir().join("nope")).unwrap_err();
    assert!(matches!(missing.kind, K::Io(_)), "{missing}");
    let cause = std::error::Error::source(&missing).expect("the io::Error behind it");
    assert!(
        cause.to_string().contains("No such file or directory"),
        "{cause}"
    );
}

/// Writes a good device, damages one file, and checks the error.
fn damaged(file: &str, contents: &[u8], check: impl Fn(&K) -> bool) {
    let tree = FakePciTree::new().unwrap();
    let a = addr("0000:00:03.0");
    tree.add(&FakeDevice::new(a).iommu_group(Some(3)).bar(
        BarIndex::BAR0,
        0x1000,
        0x1000,
        FLAGS_MEM32,
    ))
    .unwrap();
    tree.write_attr(a, file, contents).unwrap();
    let err = read(&tree, "0000:00:03.0").expect_err(file);
    assert!(
        check(&err.kind),
        "{file} {:?}: unexpected {:?}",
        String::from_utf8_lossy(contents),
        err.kind
    );
    assert!(err.path.ends_with(file), "{err}");
    assert!(
        err.to_string().contains(&format!("0000:00:03.0/{file}")),
        "{err}"
    );
}

#[test]
fn malformed_files_give_errors_naming_the_file() {
    let mut cases = 0;
    let mut case = |file: &str, contents: &[u8], check: fn(&K) -> bool| {
        damaged(file, contents, check);
        cases += 1;
    };
    case("vendor", b"zz\n", |k| {
        matches!(k, K::NotHex { bits: 16, .. })
    });
    case("vendor", b"0x\n", |k| matches!(k, K::NotHex { .. }));
    case("vendor", b"8086\n", |k| matches!(k, K::NotHex { .. }));
    case("vendor", b"0x10000\n", |k| {
        matches!(
            k,
            K::OutOfRange {
                max: 0xffff,
                value: 0x10000
            }
        )
    });
    case("vendor", b"0x-1\n", |k| matches!(k, K::NotHex { .. }));
    case("vendor", b"", |k| matches!(k, K::NotHex { .. }));
    case("vendor", b"0x8086 0x8086\n", |k| {
        matches!(k, K::NotHex { .. })
    });
    case("device", b"0x12345678901234567\n", |k| {
        matches!(k, K::NotHex { .. })
    });
    case("device", &[0x30, 0x78, 0xff, 0xfe], |k| {
        matches!(k, K::NotUtf8)
    });
    case("subsystem_vendor", &vec![b'0'; 5000], |k| {
        matches!(k, K::TooLarge)
    });
    case("class", b"0x1000000\n", |k| {
        matches!(k, K::OutOfRange { max: 0xffffff, .. })
    });
    case("class", b"0x02 00 00\n", |k| {
        matches!(k, K::NotHex { bits: 24, .. })
    });
    case("numa_node", b"abc\n", |k| matches!(k, K::NotDecimal { .. }));
    case("numa_node", b"-2\n", |k| matches!(k, K::OutOfRange { .. }));
    case("numa_node", b"99999999999\n", |k| {
        matches!(k, K::OutOfRange { .. })
    });
    case("resource", b"0x0 0x0 0x0\n", |k| {
        matches!(k, K::TooFewResourceLines(1))
    });
    case("resource", "0x0 0x0 0x0\n".repeat(5).as_bytes(), |k| {
        matches!(k, K::TooFewResourceLines(5))
    });
    case("resource", b"", |k| matches!(k, K::TooFewResourceLines(0)));
    case(
        "resource",
        format!("0x2000 0x1000 0x200\n{}", "0x0 0x0 0x0\n".repeat(5)).as_bytes(),
        |k| matches!(k, K::ResourceEndBeforeStart { line: 1 }),
    );
    case(
        "resource",
        format!("0x1000 0x1fff\n{}", "0x0 0x0 0x0\n".repeat(5)).as_bytes(),
        |k| matches!(k, K::BadResourceLine { line: 1 }),
    );
    case(
        "resource",
        format!("{}0x1 0x2 0x3 0x4\n", "0x0 0x0 0x0\n".repeat(5)).as_bytes(),
        |k| matches!(k, K::BadResourceLine { line: 6 }),
    );
    case(
        "resource",
        format!(
            "0x10000000000000000 0x1 0x200\n{}",
            "0x0 0x0 0x0\n".repeat(5)
        )
        .as_bytes(),
        |k| matches!(k, K::BadResourceLine { line: 1 }),
    );
    case(
        "resource",
        format!(
            "0x0 0xffffffffffffffff 0x200\n{}",
            "0x0 0x0 0x0\n".repeat(5)
        )
        .as_bytes(),
        |k| matches!(k, K::OutOfRange { .. }),
    );
    case(
        "resource",
        format!("1000 2000 200\n{}", "0x0 0x0 0x0\n".repeat(5)).as_bytes(),
        |k| matches!(k, K::BadResourceLine { line: 1 }),
    );
    assert!(cases >= 20, "{cases} cases");

    // Missing files and a broken iommu_group link.
    let tree = FakePciTree::new().unwrap();
    let a = addr("0000:00:03.0");
    tree.add(&FakeDevice::new(a)).unwrap();
    tree.remove_attr(a, "vendor").unwrap();
    let err = read(&tree, "0000:00:03.0").unwrap_err();
    assert!(
        matches!(err.kind, K::Io(_)) && err.path.ends_with("vendor"),
        "{err}"
    );
    tree.add(&FakeDevice::new(a)).unwrap();
    tree.remove_attr(a, "resource").unwrap();
    assert!(read(&tree, "0000:00:03.0")
        .unwrap_err()
        .path
        .ends_with("resource"));
    tree.add(&FakeDevice::new(a)).unwrap();
    std::os::unix::fs::symlink(
        "/nonexistent/groups/abc",
        tree.devices_dir().join("0000:00:03.0/iommu_group"),
    )
    .unwrap();
    let err = read(&tree, "0000:00:03.0").unwrap_err();
    assert!(
        matches!(err.kind, K::NotDecimal { .. }) && err.path.ends_with("iommu_group"),
        "{err}"
    );

    // A directory whose name is not an address.
    std::fs::create_dir(tree.devices_dir().join("bogus")).unwrap();
    assert_eq!(read(&tree, "bogus").unwrap_err().kind, K::BadDirectoryName);
}

#[test]
fn resource_parser_handles_linux_layouts() {
    // A real e1000e layout: three memory BARs, one I/O BAR, a ROM, 13 lines.
    let text = "0x00000000febc0000 0x00000000febdffff 0x0000000000040200\n\
                0x00000000feba0000 0x00000000febbffff 0x0000000000040200\n\
                0x000000000000c080 0x000000000000c09f 0x0000000000040101\n\
                0x00000000febe0000 0x00000000febe3fff 0x0000000000040200\n"
        .to_owned()
        + &"0x0000000000000000 0x0000000000000000 0x0000000000000000\n".repeat(2)
        + "0x00000000feb80000 0x00000000feb9ffff 0x0000000000046200\n"
        + &"0x0000000000000000 0x0000000000000000 0x0000000000000000\n".repeat(6);
    let (bars, rom) = parse_resource(&text).unwrap();
    let lens: Vec<Option<u64>> = bars.iter().map(|b| b.map(|b| b.len)).collect();
    assert_eq!(
        lens,
        [
            Some(128 << 10),
            Some(128 << 10),
            Some(32),
            Some(16 << 10),
            None,
            None
        ]
    );
    assert_eq!(bars[2].unwrap().kind, BarKind::Io);
    assert_eq!(rom.unwrap().len, 128 << 10);
}

#[test]
fn scan_address_reads_names_as_dpdks_scan_does() {
    use std::ffi::OsStr;
    let wide_ulong = std::mem::size_of::<std::ffi::c_ulong>() == 8;
    let cases: Vec<(&str, Option<&str>)> = vec![
        ("0000:00:03.0", Some("0000:00:03.0")),
        ("0000:02:ab.0", Some("0000:02:ab.0")),
        ("0:3:0.1", Some("0000:03:00.1")),
        ("0000:00:03.10", Some("0000:00:03.a")),
        ("0000:00:03.f", Some("0000:00:03.0")),
        ("0000:00:03.0x1", Some("0000:00:03.0")),
        ("0000:00:03.-1", Some("0000:00:03.ff")),
        ("0000:00:03.1.2", Some("0000:00:03.1")),
        ("0000:00:03.1junk", Some("0000:00:03.1")),
        ("0000:00:103.0", Some("0000:00:03.0")),
        ("0x0:0x1:0x2.3", Some("0000:01:02.3")),
        (" 1:\t2:+3.4", Some("0001:02:03.4")),
        ("::.", Some("0000:00:00.0")),
        ("0000:00:03.0:", Some("0000:00:03.0")),
        ("100000001:00:00.0", wide_ulong.then_some("0001:00:00.0")),
        ("1ffffffffffffffff:00:00.0", None),
        ("0000:00:03.99999999999999999999", None),
        (".0000:00:03.0", None),
        ("0000:00:03", None),
        ("00:03.0", None),
        ("0000:00:00:03.0", None),
        ("0000:00:03.0::", None),
        ("not-a-device", None),
        ("", None),
    ];
    for (name, want) in cases {
        let got = scan_address(OsStr::new(name)).map(|a| a.to_string());
        assert_eq!(got.as_deref(), want, "{name:?}");
    }
}

#[test]
fn names_for_one_address_keep_the_directorys_order() {
    let tree = FakePciTree::new().unwrap();
    let dev = FakeDevice::new(addr("0000:00:03.0"));
    for name in ["0000:00:04.0", "0:0:3.0", "0000:00:03.0", "00:0:03.00"] {
        tree.add_named(name, &dev).unwrap();
    }
    let order: Vec<std::path::PathBuf> = std::fs::read_dir(tree.devices_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !p.ends_with("0000:00:04.0"))
        .collect();
    let list = list_device_dirs(tree.devices_dir()).unwrap();
    let threes: Vec<&std::path::PathBuf> = list
        .iter()
        .filter(|(a, _)| *a == addr("0000:00:03.0"))
        .map(|(_, p)| p)
        .collect();
    assert_eq!(threes, order.iter().collect::<Vec<_>>(), "readdir order");
    assert_eq!(
        device_dir(&list, addr("0000:00:03.0")),
        order.last().map(|p| p.as_path()),
        "DPDK keeps what it read last"
    );
    assert_eq!(
        device_dir(&list, addr("0000:00:04.0")),
        Some(tree.devices_dir().join("0000:00:04.0").as_path())
    );
    assert_eq!(device_dir(&list, addr("0000:00:05.0")), None);
    assert_eq!(device_dir(&[], addr("0000:00:05.0")), None);
}
