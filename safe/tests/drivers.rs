//! Rust PCI drivers on DPDK's bus, over a fake sysfs tree: registration errors,
//! probe at EAL start-up, probe failures, remove, hot-plug registration.
//! (Drivers that need their BARs mapped are tested in the VM: vm_drivers.rs.)
#![cfg(dpdk_pci_driver)]

mod common;

use std::sync::Mutex;

use common::{base_builder, child_passes, is_child};
use dpdk_safe::pci::driver::{
    register, DriverFlags, PciDriver, PciId, ProbeFailure, ProbedDevice, RegisterError,
};
use dpdk_safe::pci::{DeviceError, PciAddress};
use dpdk_safe::testing::{FakeDevice, FakePciTree};

/// Records every callback; refuses devices whose ID is in `refuse`.
#[derive(Default)]
struct Recorder {
    events: Mutex<Vec<String>>,
    refuse: Option<u16>,
}

impl PciDriver for Recorder {
    fn probe(&self, device: &ProbedDevice<'_>) -> Result<(), ProbeFailure> {
        let ids = device.ids();
        self.events.lock().unwrap().push(format!(
            "probe {} {:04x}:{:04x} class {:06x} name {}",
            device.address(),
            ids.vendor,
            ids.device,
            device.class(),
            device.name()
        ));
        if self.refuse == Some(ids.device) {
            return Err(ProbeFailure::new(libc::EBUSY, "refused by the test"));
        }
        Ok(())
    }

    fn remove(&self, device: &ProbedDevice<'_>) {
        self.events
            .lock()
            .unwrap()
            .push(format!("remove {}", device.address()));
    }
}

fn addr(s: &str) -> PciAddress {
    s.parse().unwrap()
}

#[test]
fn drivers_are_probed_removed_and_refused() {
    const NAME: &str = "drivers_are_probed_removed_and_refused";
    if !is_child(NAME) {
        let tree = FakePciTree::new().unwrap();
        tree.add(
            &FakeDevice::new(addr("0000:00:03.0"))
                .ids(0x1234, 0x11e8)
                .class(0x00ff00),
        )
        .unwrap();
        tree.add(&FakeDevice::new(addr("0000:00:04.0")).ids(0x1234, 0xbeef))
            .unwrap();
        tree.add(&FakeDevice::new(addr("0000:00:05.0")).ids(0x1234, 0xbef0))
            .unwrap();
        child_passes(
            NAME,
            &[("SYSFS_PCI_DEVICES", tree.devices_dir().to_str().unwrap())],
        );
        return;
    }
    let edu_id = [PciId::new(0x1234, 0x11e8)];
    // Registration errors.
    assert!(matches!(
        register("rs_empty", &[], DriverFlags::empty(), Recorder::default()),
        Err(RegisterError::EmptyIdTable(_))
    ));
    let zero = [PciId::new(0x1234, 1), PciId::new(0, 2)];
    let err = register("rs_zero", &zero, DriverFlags::empty(), Recorder::default())
        .err()
        .unwrap();
    assert!(
        matches!(err, RegisterError::VendorZero { index: 1, .. }),
        "{err}"
    );
    assert!(matches!(
        register("", &edu_id, DriverFlags::empty(), Recorder::default()),
        Err(RegisterError::BadName(_))
    ));
    assert!(matches!(
        register("a\0b", &edu_id, DriverFlags::empty(), Recorder::default()),
        Err(RegisterError::BadName(_))
    ));

    // Without NEED_MAPPING DPDK probes fake devices without touching VFIO.
    let edu = register("rs_edu", &edu_id, DriverFlags::empty(), Recorder::default()).unwrap();
    let err = register("rs_edu", &edu_id, DriverFlags::empty(), Recorder::default())
        .err()
        .unwrap();
    assert!(matches!(err, RegisterError::AlreadyRegistered(_)), "{err}");
    let refusing = Recorder {
        refuse: Some(0xbeef),
        ..Recorder::default()
    };
    let fail = register(
        "rs_fail",
        &[PciId::new(0x1234, 0xbeef)],
        DriverFlags::empty(),
        refusing,
    )
    .unwrap();

    let mut eal = base_builder()
        .init()
        .expect("EAL: one probe failed, one succeeded");
    assert_eq!(edu.bound_devices(), 1);
    assert_eq!(fail.bound_devices(), 0);
    assert_eq!(
        edu.driver().events.lock().unwrap().as_slice(),
        ["probe 0000:00:03.0 1234:11e8 class 00ff00 name 0000:00:03.0"]
    );
    assert_eq!(
        fail.driver().events.lock().unwrap().len(),
        1,
        "the refusing driver was asked"
    );
    assert_eq!(
        eal.pci_device(addr("0000:00:03.0"))
            .unwrap()
            .dpdk_driver
            .as_deref(),
        Some("rs_edu")
    );
    assert_eq!(
        eal.pci_device(addr("0000:00:04.0")).unwrap().dpdk_driver,
        None,
        "refused"
    );

    // Too late for start-up registration; hot-plug registration works.
    let late = register(
        "rs_late",
        &[PciId::new(0x1234, 0xbef0)],
        DriverFlags::empty(),
        Recorder::default(),
    )
    .err()
    .unwrap();
    assert!(matches!(late, RegisterError::BusAlreadyProbed(_)), "{late}");
    let hot = eal
        .register_driver(
            "rs_hot",
            &[PciId::new(0x1234, 0xbef0)],
            DriverFlags::empty(),
            Recorder::default(),
        )
        .unwrap();
    assert_eq!(hot.bound_devices(), 0);
    eal.probe(addr("0000:00:05.0")).unwrap();
    assert_eq!(hot.bound_devices(), 1);
    let again = eal.probe(addr("0000:00:05.0")).unwrap_err();
    assert!(matches!(again, DeviceError::AlreadyProbed(_)), "{again:?}");

    // Remove through DPDK: the callback runs.
    eal.remove(addr("0000:00:03.0")).unwrap();
    assert_eq!(
        edu.driver().events.lock().unwrap().last().unwrap(),
        "remove 0000:00:03.0"
    );
    assert_eq!(edu.bound_devices(), 0);
    // DPDK drops a removed device from its bus; a probe scans it back in.
    assert!(matches!(
        eal.pci_device(addr("0000:00:03.0")),
        Err(DeviceError::NoSuchDevice(_))
    ));
    eal.probe(addr("0000:00:03.0")).unwrap();
    assert_eq!(edu.bound_devices(), 1);
    eal.remove(addr("0000:00:03.0")).unwrap();
    assert_eq!(
        edu.driver().events.lock().unwrap().len(),
        4,
        "probe, remove, probe, remove"
    );
    eal.remove(addr("0000:00:05.0")).unwrap();
    assert_eq!(
        hot.driver().events.lock().unwrap().last().unwrap(),
        "remove 0000:00:05.0"
    );

    // Registrations are freed, not leaked (valgrind checks it: tools/memcheck.sh).
    // With no device bound, dropping the handle unregisters and frees at once:
    // the name can be taken again.
    drop(fail);
    let again = eal
        .register_driver(
            "rs_fail",
            &[PciId::new(0x1234, 0xbeef)],
            DriverFlags::empty(),
            Recorder::default(),
        )
        .unwrap();
    drop(again);
    // Dropped while a device is bound: retired, still registered (DPDK calls it
    // for that device), and freed once DPDK has removed its last device.
    eal.probe(addr("0000:00:03.0")).unwrap();
    assert_eq!(edu.bound_devices(), 1);
    drop(edu);
    let err = eal
        .register_driver("rs_edu", &edu_id, DriverFlags::empty(), Recorder::default())
        .err()
        .unwrap();
    assert!(matches!(err, RegisterError::AlreadyRegistered(_)), "{err}");
    eal.remove(addr("0000:00:03.0")).unwrap();
    assert!(matches!(
        eal.pci_device(addr("0000:00:03.0")),
        Err(DeviceError::NoSuchDevice(_))
    ));
    let edu = eal
        .register_driver("rs_edu", &edu_id, DriverFlags::empty(), Recorder::default())
        .expect("the retired registration was freed after its device was removed");
    // Bound at drop and never removed by hand: EAL cleanup removes the device
    // through the callback and then frees the registration.
    eal.probe(addr("0000:00:05.0")).unwrap();
    assert_eq!(hot.bound_devices(), 1);
    drop((edu, hot));
    eal.cleanup().unwrap();
}
