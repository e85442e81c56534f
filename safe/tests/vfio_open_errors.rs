//! `Eal::vfio_open` classifies what is wrong before DPDK's VFIO code runs, over a
//! fake sysfs tree (no VFIO on the host is needed or touched).

mod common;

use common::{base_builder, child_passes, is_child};
use dpdk_safe::testing::{FakeDevice, FakePciTree, FLAGS_MEM32};
use dpdk_safe::BarIndex;
use dpdk_safe::OpenError;
use dpdk_safe::PciAddress;

fn addr(s: &str) -> PciAddress {
    s.parse().unwrap()
}

#[test]
fn open_errors_name_the_problem_and_the_fix() {
    const NAME: &str = "open_errors_name_the_problem_and_the_fix";
    if !is_child(NAME) {
        let tree = FakePciTree::new().unwrap();
        let dev =
            |a: &str| FakeDevice::new(addr(a)).bar(BarIndex::BAR0, 0x1000, 0x1000, FLAGS_MEM32);
        // A group number no machine has: its /dev/vfio node cannot exist.
        tree.add(&dev("0000:00:03.0").iommu_group(Some(4242)))
            .unwrap();
        tree.add(&dev("0000:00:04.0").driver(Some("uio_pci_generic")))
            .unwrap();
        tree.add(&dev("0000:00:05.0").iommu_group(None)).unwrap();
        child_passes(
            NAME,
            &[("SYSFS_PCI_DEVICES", tree.devices_dir().to_str().unwrap())],
        );
        return;
    }
    let eal = base_builder().init().unwrap();

    let err = eal.vfio_open(addr("0000:00:04.0")).unwrap_err();
    assert!(matches!(err, OpenError::NotBoundToVfio { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("bound to uio_pci_generic, not vfio-pci"),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("dpdk-devbind.py -b vfio-pci 0000:00:04.0"),
        "{err}"
    );

    let err = eal.vfio_open(addr("0000:00:05.0")).unwrap_err();
    assert!(matches!(err, OpenError::NoIommuGroup(_)), "{err}");
    assert!(err.to_string().contains("intel_iommu=on"), "{err}");

    let err = eal.vfio_open(addr("0000:00:07.0")).unwrap_err();
    assert!(matches!(err, OpenError::NoSuchDevice(..)), "{err}");

    // Bound to vfio-pci with a group, but this machine has no VFIO (or no such
    // group node): the error says to load the module.
    let err = eal.vfio_open(addr("0000:00:03.0")).unwrap_err();
    assert!(matches!(err, OpenError::VfioUnavailable), "{err}");
    assert!(err.to_string().contains("modprobe vfio-pci"), "{err}");
}
