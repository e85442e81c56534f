//! Binding to vfio-pci over fake sysfs trees: what is written where, and the
//! typed refusals `dpdk-devbind.py` makes. Nothing here touches this machine's
//! bus; the VM test (`vm_devbind.rs`) binds a real (emulated) device.

use std::fs;
use std::path::{Path, PathBuf};

use dpdk_safe::testing::{FakeDevice, FakePciTree};
use dpdk_safe::PciAddress;
use dpdk_safe::{Devbind, DevbindError, KernelDriver, SysfsWrite};

fn a(s: &str) -> PciAddress {
    s.parse().unwrap()
}

const EDU: &str = "0000:00:03.0";
const NIC: &str = "0000:00:05.0";
const NVME: &str = "0000:00:06.0";
const LONE: &str = "0000:00:07.0";

/// edu on vfio-pci (group 3), an e1000e NIC with interface eth7 (group 5), an
/// NVMe disk with one partition (group 6), a device without IOMMU group.
fn tree(nic_up: bool) -> (FakePciTree, PathBuf) {
    let tree = FakePciTree::new().unwrap();
    tree.add(
        &FakeDevice::new(a(EDU))
            .ids(0x1234, 0x11e8)
            .iommu_group(Some(3)),
    )
    .unwrap();
    let nic = tree
        .add(
            &FakeDevice::new(a(NIC))
                .ids(0x8086, 0x10d3)
                .class(0x020000)
                .driver(Some("e1000e"))
                .iommu_group(Some(5)),
        )
        .unwrap();
    let flags = if nic_up { "0x1003\n" } else { "0x1002\n" };
    write(&nic.join("net/eth7/flags"), flags);
    let nvme = tree
        .add(
            &FakeDevice::new(a(NVME))
                .ids(0x1b36, 0x0010)
                .class(0x010802)
                .driver(Some("nvme"))
                .iommu_group(Some(6)),
        )
        .unwrap();
    let disk = nvme.join("nvme/nvme0/nvme0n1");
    write(&disk.join("dev"), "259:0\n");
    write(&disk.join("size"), "2048\n");
    write(&disk.join("nvme0n1p1/partition"), "1\n");
    write(&disk.join("nvme0n1p1/dev"), "259:1\n");
    write(&disk.join("nvme0n1p1/size"), "1024\n");
    tree.add(
        &FakeDevice::new(a(LONE))
            .driver(Some("e1000e"))
            .iommu_group(None),
    )
    .unwrap();
    let base = tree.devices_dir().parent().unwrap().to_owned();
    (tree, base)
}

fn write(path: &Path, text: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

fn devbind(tree: &FakePciTree, base: &Path) -> Devbind {
    Devbind::at(tree.devices_dir()).mount_tables(&base.join("mounts"), &base.join("swaps"))
}

#[test]
fn status_shows_drivers_groups_interfaces_and_disks() {
    let (tree, base) = tree(false);
    let status = devbind(&tree, &base).status().unwrap();
    let rows: Vec<_> = status
        .iter()
        .map(|d| {
            (
                d.address.to_string(),
                d.driver.as_ref().map(|k| k.name().to_owned()),
                d.iommu_group,
                d.interfaces.clone(),
                d.disks.clone(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            (
                EDU.to_owned(),
                Some("vfio-pci".to_owned()),
                Some(3),
                vec![],
                vec![]
            ),
            (
                NIC.to_owned(),
                Some("e1000e".to_owned()),
                Some(5),
                vec![("eth7".to_owned(), false)],
                vec![]
            ),
            (
                NVME.to_owned(),
                Some("nvme".to_owned()),
                Some(6),
                vec![],
                vec!["nvme0n1".to_owned(), "nvme0n1p1".to_owned()]
            ),
            (
                LONE.to_owned(),
                Some("e1000e".to_owned()),
                None,
                vec![],
                vec![]
            ),
        ]
    );
    assert_eq!(
        (
            status[1].ids.vendor,
            status[1].ids.device,
            status[1].class.code()
        ),
        (0x8086, 0x10d3, 0x020000)
    );
}

#[test]
fn binding_a_nic_writes_unbind_override_bind_and_clears_the_override() {
    let (tree, base) = tree(false);
    fs::create_dir_all(base.join("drivers/vfio-pci")).unwrap();
    let db = devbind(&tree, &base);
    let dev = tree.devices_dir().join(NIC);
    let plan = db.plan_bind(a(NIC), "vfio-pci").unwrap();
    let w = |path: PathBuf, value: &str| SysfsWrite {
        path,
        value: value.to_owned(),
    };
    assert_eq!(
        plan,
        [
            w(dev.join("driver/unbind"), NIC),
            w(dev.join("driver_override"), "vfio-pci"),
            w(base.join("drivers/vfio-pci/bind"), NIC),
            w(dev.join("driver_override"), "\n"),
        ]
    );
    // The writes land where planned; a fake kernel does not rebind, which the
    // check after the writes reports.
    let err = db.bind(a(NIC), "vfio-pci").unwrap_err();
    match &err {
        DevbindError::NotBound {
            address,
            expected,
            actual,
        } => {
            assert_eq!(*address, a(NIC));
            assert_eq!(expected.as_deref(), Some("vfio-pci"));
            assert_eq!(actual.as_deref(), Some("e1000e"));
        }
        other => panic!("fake bind gave {other:?}"),
    }
    assert_eq!(
        fs::read_to_string(base.join("drivers/e1000e/unbind")).unwrap(),
        NIC
    );
    assert_eq!(
        fs::read_to_string(base.join("drivers/vfio-pci/bind")).unwrap(),
        NIC
    );
    assert_eq!(
        fs::read_to_string(dev.join("driver_override")).unwrap(),
        "\n"
    );
}

#[test]
fn already_bound_and_unbound_devices_need_no_writes() {
    let (tree, base) = tree(false);
    let db = devbind(&tree, &base);
    assert!(db.plan_bind(a(EDU), "vfio-pci").unwrap().is_empty());
    tree.add(
        &FakeDevice::new(a("0000:00:08.0"))
            .driver(None)
            .iommu_group(Some(8)),
    )
    .unwrap();
    assert!(db.plan_unbind(a("0000:00:08.0")).unwrap().is_empty());
    db.unbind(a("0000:00:08.0")).unwrap();
    assert_eq!(
        db.plan_unbind(a(EDU)).unwrap(),
        [SysfsWrite {
            path: tree.devices_dir().join(EDU).join("driver/unbind"),
            value: EDU.to_owned()
        }]
    );
}

#[test]
fn restore_unbinds_clears_the_override_and_reprobes() {
    let (tree, base) = tree(false);
    let db = devbind(&tree, &base);
    // The fake kernel leaves the driver link as it was: edu stays on vfio-pci.
    let now = db.restore(a(EDU)).unwrap();
    assert_eq!(now, Some(KernelDriver::VfioPci));
    assert_eq!(
        fs::read_to_string(base.join("drivers/vfio-pci/unbind")).unwrap(),
        EDU
    );
    assert_eq!(fs::read_to_string(base.join("drivers_probe")).unwrap(), EDU);
    assert_eq!(
        fs::read_to_string(tree.devices_dir().join(EDU).join("driver_override")).unwrap(),
        "\n"
    );
}

#[test]
fn an_interface_that_is_up_is_refused() {
    let (tree, base) = tree(true);
    fs::create_dir_all(base.join("drivers/vfio-pci")).unwrap();
    let db = devbind(&tree, &base);
    for result in [
        db.plan_bind(a(NIC), "vfio-pci").map(|_| ()),
        db.plan_unbind(a(NIC)).map(|_| ()),
    ] {
        match result {
            Err(DevbindError::ActiveInterface { address, interface }) => {
                assert_eq!((address, interface.as_str()), (a(NIC), "eth7"))
            }
            other => panic!("an up interface gave {other:?}"),
        }
    }
    assert!(
        !base.join("drivers/e1000e/unbind").exists(),
        "nothing written"
    );
}

#[test]
fn a_mounted_or_swapped_disk_is_refused() {
    let (tree, base) = tree(false);
    fs::create_dir_all(base.join("drivers/vfio-pci")).unwrap();
    let db = devbind(&tree, &base);
    write(
        &base.join("mounts"),
        "proc /proc proc rw 0 0\n/dev/nvme0n1p1 /data ext4 rw 0 0\n",
    );
    let err = db.plan_bind(a(NVME), "vfio-pci").unwrap_err();
    assert!(
        matches!(&err, DevbindError::MountedDisk { disk, use_, .. }
            if disk == "nvme0n1p1" && use_ == "mounted on /data"),
        "{err}"
    );
    write(&base.join("mounts"), "proc /proc proc rw 0 0\n");
    write(
        &base.join("swaps"),
        "Filename Type Size Used Priority\n/dev/nvme0n1 partition 1 0 -2\n",
    );
    let err = db.plan_bind(a(NVME), "vfio-pci").unwrap_err();
    assert!(
        matches!(&err, DevbindError::MountedDisk { disk, use_, .. } if disk == "nvme0n1" && use_ == "swap"),
        "{err}"
    );
    fs::remove_file(base.join("swaps")).unwrap();
    assert_eq!(db.plan_bind(a(NVME), "vfio-pci").unwrap().len(), 4);
}

#[test]
fn no_iommu_group_is_refused_for_vfio_only() {
    let (tree, base) = tree(false);
    fs::create_dir_all(base.join("drivers/vfio-pci")).unwrap();
    fs::create_dir_all(base.join("drivers/pci-stub")).unwrap();
    let db = devbind(&tree, &base);
    let err = db.plan_bind(a(LONE), "vfio-pci").unwrap_err();
    assert!(
        matches!(err, DevbindError::NoIommu { address } if address == a(LONE)),
        "{err}"
    );
    assert!(err.to_string().contains("intel_iommu=on"), "{err}");
    assert_eq!(db.plan_bind(a(LONE), "pci-stub").unwrap().len(), 4);
}

#[test]
fn a_group_with_a_device_on_another_driver_is_not_viable() {
    let (tree, base) = tree(false);
    fs::create_dir_all(base.join("drivers/vfio-pci")).unwrap();
    // Group 5 gets a second function on e1000e, one on pci-stub, one unbound.
    tree.add(
        &FakeDevice::new(a("0000:00:05.1"))
            .driver(Some("e1000e"))
            .iommu_group(Some(5)),
    )
    .unwrap();
    tree.add(
        &FakeDevice::new(a("0000:00:05.2"))
            .driver(Some("pci-stub"))
            .iommu_group(Some(5)),
    )
    .unwrap();
    tree.add(
        &FakeDevice::new(a("0000:00:05.3"))
            .driver(None)
            .iommu_group(Some(5)),
    )
    .unwrap();
    let db = devbind(&tree, &base);
    let err = db.plan_bind(a(NIC), "vfio-pci").unwrap_err();
    match &err {
        DevbindError::GroupNotViable {
            address,
            group,
            others,
        } => {
            assert_eq!((*address, *group), (a(NIC), 5));
            assert_eq!(others, &[(a("0000:00:05.1"), "e1000e".to_owned())]);
        }
        other => panic!("a shared group gave {other:?}"),
    }
    assert!(
        err.to_string().contains("0000:00:05.1 (bound to e1000e)"),
        "{err}"
    );
}

#[test]
fn a_driver_that_is_not_loaded_is_never_modprobed_on_a_test_tree() {
    let (tree, base) = tree(false);
    // A driver no device of the tree is bound to has no directory there.
    let db = devbind(&tree, &base).load_modules(true);
    let err = db.bind(a(NIC), "uio_pci_generic").unwrap_err();
    match &err {
        DevbindError::DriverNotLoaded { driver, dir } => {
            assert_eq!(driver, "uio_pci_generic");
            assert_eq!(dir, &base.join("drivers/uio_pci_generic"));
        }
        other => panic!("a missing driver gave {other:?}"),
    }
    assert!(
        !base.join("drivers/e1000e/unbind").exists(),
        "nothing written"
    );
}

#[test]
fn unknown_devices_and_broken_attributes_are_errors() {
    let (tree, base) = tree(false);
    let db = devbind(&tree, &base);
    let err = db.plan_bind(a("0000:00:1f.0"), "vfio-pci").unwrap_err();
    assert!(
        matches!(err, DevbindError::NoDevice(x) if x == a("0000:00:1f.0")),
        "{err}"
    );
    tree.write_attr(a(EDU), "vendor", "zz\n").unwrap();
    let err = db.status().unwrap_err();
    assert!(
        matches!(&err, DevbindError::Io { path, .. } if path.ends_with("vendor")),
        "{err}"
    );
    tree.remove_attr(a(EDU), "class").unwrap();
    assert!(db.device_status(a(EDU)).is_err());
}
