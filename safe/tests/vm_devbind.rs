//! `pci::devbind` on the test VM's real (emulated) bus (`tools/vm-tests.sh`
//! runs it with `--ignored`): QEMU's edu is moved off vfio-pci and back, and
//! the crate opens it afterwards. Never run on a machine's own bus.
//!
//! The VM's init binds edu with vfio-pci's `new_id`, so vfio-pci is also the
//! driver the kernel picks for it on a re-probe.

mod common;

use common::{base_builder, in_vm_child};
use dpdk_safe::pci::devbind::{Devbind, DevbindError};
use dpdk_safe::pci::PciAddress;
use dpdk_safe::vfio::{RegionIndex, Registers};

const EDU: &str = "0000:00:03.0";

fn edu() -> PciAddress {
    EDU.parse().unwrap()
}

#[test]
#[ignore = "needs the VM: tools/vm-tests.sh"]
fn edu_moves_off_vfio_pci_and_back_then_opens() {
    in_vm_child("edu_moves_off_vfio_pci_and_back_then_opens", || {
        let devbind = Devbind::system();
        let before = devbind.device_status(edu()).unwrap();
        assert_eq!(before.driver.as_deref(), Some("vfio-pci"), "{before:?}");
        let group = before.iommu_group.expect("the VM has an IOMMU");
        println!("before: {before:?}");

        devbind.unbind(edu()).unwrap();
        let off = devbind.device_status(edu()).unwrap();
        assert_eq!(off.driver, None, "{off:?}");
        assert!(!std::path::Path::new(&format!("/sys/bus/pci/devices/{EDU}/driver")).exists());

        let binding = devbind.bind(edu(), "vfio-pci").unwrap();
        assert_eq!(binding.original, None);
        let on = devbind.device_status(edu()).unwrap();
        assert_eq!(on.driver.as_deref(), Some("vfio-pci"));
        assert_eq!(on.iommu_group, Some(group));
        assert_eq!(on.driver_override, None, "the override is cleared again");

        // Unbinding what the binding changed, then the kernel's own pick.
        devbind.restore_binding(binding).unwrap();
        assert_eq!(devbind.device_status(edu()).unwrap().driver, None);
        let picked = devbind.restore(edu()).unwrap();
        assert_eq!(
            picked.as_deref(),
            Some("vfio-pci"),
            "vfio-pci's new_id matches edu"
        );

        // A driver that does not exist: refused before anything is written.
        let err = devbind.bind(edu(), "no-such-driver").unwrap_err();
        assert!(matches!(err, DevbindError::DriverNotLoaded { .. }), "{err}");
        assert_eq!(
            devbind.device_status(edu()).unwrap().driver.as_deref(),
            Some("vfio-pci")
        );

        // The crate opens it afterwards: edu's ID register through VFIO.
        let eal = base_builder().allow(edu()).init().expect("EAL with edu");
        let dev = eal.vfio_open(edu()).unwrap();
        let bar = dev.region(RegionIndex::BAR0).unwrap();
        assert_eq!(bar.read32(0).unwrap(), 0x010000ed, "edu ID register");
        drop(bar);
        drop(dev);
        eal.cleanup().unwrap();
    });
}
