//! Rust PCI drivers on DPDK's bus, over a fake sysfs tree: registration errors,
//! probe at EAL start-up, probe failures, remove, hot-plug registration.
//! (Drivers that need their BARs mapped are tested in the VM: vm_drivers.rs.)
#![cfg(dpdk_pci_driver)]

mod common;

use std::sync::Mutex;

use common::{base_builder, child_passes, is_child};
use dpdk_safe::testing::{FakeDevice, FakePciTree};
use dpdk_safe::{
    register, DriverFlags, PciDriver, PciIdPattern, ProbeFailure, ProbedDevice, RegisterError,
};
use dpdk_safe::{DeviceError, PciAddress};

/// Records every callback; refuses devices whose ID is in `refuse`.
#[derive(Default)]
struct Recorder {
    events: Mutex<Vec<String>>,
    refuse: Option<u16>,
}

impl PciDriver for Recorder {
    type Device = ();
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

    fn remove(&self, device: &ProbedDevice<'_>, _state: ()) {
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
    let edu_id = [PciIdPattern::new(0x1234, 0x11e8)];
    // Registration errors.
    assert!(matches!(
        register("rs_empty", &[], DriverFlags::empty(), Recorder::default()),
        Err(RegisterError::EmptyIdTable(_))
    ));
    let zero = [PciIdPattern::new(0x1234, 1), PciIdPattern::new(0, 2)];
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
        &[PciIdPattern::new(0x1234, 0xbeef)],
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
        &[PciIdPattern::new(0x1234, 0xbef0)],
        DriverFlags::empty(),
        Recorder::default(),
    )
    .err()
    .unwrap();
    assert!(matches!(late, RegisterError::BusAlreadyProbed(_)), "{late}");
    let hot = eal
        .register_driver(
            "rs_hot",
            &[PciIdPattern::new(0x1234, 0xbef0)],
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
            &[PciIdPattern::new(0x1234, 0xbeef)],
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

/// A driver whose `Drop` panics.
struct PanicsOnDrop;

impl PciDriver for PanicsOnDrop {
    type Device = ();
    fn probe(&self, _: &ProbedDevice<'_>) -> Result<(), ProbeFailure> {
        Ok(())
    }
    fn remove(&self, _: &ProbedDevice<'_>, _state: ()) {}
}

impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        panic!("the driver's Drop panics on purpose");
    }
}

/// A driver whose `Drop` drops another driver's registration.
struct DropsAnother(Mutex<Option<dpdk_safe::Registered<Recorder>>>);

impl PciDriver for DropsAnother {
    type Device = ();
    fn probe(&self, _: &ProbedDevice<'_>) -> Result<(), ProbeFailure> {
        Ok(())
    }
    fn remove(&self, _: &ProbedDevice<'_>, _state: ()) {}
}

impl Drop for DropsAnother {
    fn drop(&mut self) {
        drop(self.0.lock().unwrap().take());
    }
}

/// Retired registrations are freed outside the crate's locks: a `Drop` that
/// panics frees nothing twice (valgrind checks it under tools/memcheck.sh), and
/// a `Drop` that drops another registration does not deadlock (the parent
/// kills the child after 60 s).
#[test]
fn retired_drivers_survive_panicking_and_reentrant_drops() {
    const NAME: &str = "retired_drivers_survive_panicking_and_reentrant_drops";
    if !is_child(NAME) {
        let tree = FakePciTree::new().unwrap();
        for (dev, id) in [
            ("0000:00:03.0", 1),
            ("0000:00:04.0", 2),
            ("0000:00:05.0", 3),
        ] {
            tree.add(&FakeDevice::new(addr(dev)).ids(0x1234, id))
                .unwrap();
        }
        common::child_passes_within(
            NAME,
            &[("SYSFS_PCI_DEVICES", tree.devices_dir().to_str().unwrap())],
            std::time::Duration::from_secs(60),
        );
        return;
    }
    let panics = register(
        "rs_panics",
        &[PciIdPattern::new(0x1234, 1)],
        DriverFlags::empty(),
        PanicsOnDrop,
    )
    .unwrap();
    let inner = register(
        "rs_inner",
        &[PciIdPattern::new(0x1234, 3)],
        DriverFlags::empty(),
        Recorder::default(),
    )
    .unwrap();
    let outer = register(
        "rs_outer",
        &[PciIdPattern::new(0x1234, 2)],
        DriverFlags::empty(),
        DropsAnother(Mutex::new(Some(inner))),
    )
    .unwrap();
    let mut eal = base_builder().init().unwrap();
    assert_eq!((panics.bound_devices(), outer.bound_devices()), (1, 1));
    // Both retired: their devices are still bound.
    drop(panics);
    drop(outer);

    // Removing the device frees the panicking driver: the panic reaches the
    // caller once the registration is freed and every lock released.
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        eal.remove(addr("0000:00:03.0"))
    }));
    assert!(caught.is_err(), "the Drop's panic is passed on");
    assert!(matches!(
        eal.pci_device(addr("0000:00:03.0")),
        Err(DeviceError::NoSuchDevice(_))
    ));
    // The next sweep must not see it again; this one frees the outer driver,
    // whose Drop drops the inner registration (its device is still bound, so
    // it is retired in turn).
    eal.remove(addr("0000:00:04.0")).unwrap();
    // Every name is free again once its registration is gone: the panicking
    // driver's and the outer's now, the inner's after its device goes.
    for name in ["rs_panics", "rs_outer"] {
        drop(
            eal.register_driver(
                name,
                &[PciIdPattern::new(0x1234, 9)],
                DriverFlags::empty(),
                Recorder::default(),
            )
            .unwrap_or_else(|e| panic!("{name}: {e}")),
        );
    }
    let err = eal
        .register_driver(
            "rs_inner",
            &[PciIdPattern::new(0x1234, 9)],
            DriverFlags::empty(),
            Recorder::default(),
        )
        .err()
        .unwrap();
    assert!(matches!(err, RegisterError::AlreadyRegistered(_)), "{err}");
    eal.remove(addr("0000:00:05.0")).unwrap();
    drop(
        eal.register_driver(
            "rs_inner",
            &[PciIdPattern::new(0x1234, 9)],
            DriverFlags::empty(),
            Recorder::default(),
        )
        .expect("freed once its device was removed"),
    );
    eal.cleanup().unwrap();
}

/// A registration whose handle was dropped while its device was bound leaves
/// DPDK's driver list at once: a device that appears later is not given to it.
#[test]
fn retired_drivers_stop_matching_new_devices() {
    const NAME: &str = "retired_drivers_stop_matching_new_devices";
    if !is_child(NAME) {
        let tree = FakePciTree::new().unwrap();
        tree.add(&FakeDevice::new(addr("0000:00:06.0")).ids(0x1234, 4))
            .unwrap();
        // Not on the bus yet: no kernel driver link, so DPDK's scan skips it.
        tree.add(
            &FakeDevice::new(addr("0000:00:07.0"))
                .ids(0x1234, 4)
                .driver(None),
        )
        .unwrap();
        child_passes(
            NAME,
            &[("SYSFS_PCI_DEVICES", tree.devices_dir().to_str().unwrap())],
        );
        return;
    }
    let retired = register(
        "rs_retired",
        &[PciIdPattern::new(0x1234, 4)],
        DriverFlags::empty(),
        Recorder::default(),
    )
    .unwrap();
    let mut eal = base_builder().init().unwrap();
    assert_eq!(retired.bound_devices(), 1);
    drop(retired);
    // The second device appears: give it the first one's kernel driver link.
    let root = std::path::PathBuf::from(std::env::var("SYSFS_PCI_DEVICES").unwrap());
    let target = std::fs::read_link(root.join("0000:00:06.0/driver")).unwrap();
    std::os::unix::fs::symlink(target, root.join("0000:00:07.0/driver")).unwrap();
    let err = eal.probe(addr("0000:00:07.0")).unwrap_err();
    assert!(matches!(err, DeviceError::NoDriver(_)), "{err:?}");
    assert_eq!(
        eal.pci_device(addr("0000:00:07.0")).unwrap().dpdk_driver,
        None,
        "the dropped driver was not given the new device"
    );
    // Its own device is still bound to it and is removed through it.
    assert_eq!(
        eal.pci_device(addr("0000:00:06.0"))
            .unwrap()
            .dpdk_driver
            .as_deref(),
        Some("rs_retired")
    );
    eal.remove(addr("0000:00:06.0")).unwrap();
    eal.cleanup().unwrap();
}

/// Whatever errno a driver puts in its `ProbeFailure` (0, negative, the
/// extremes), DPDK gets a negative errno and the EAL goes on.
#[test]
fn probe_failures_with_any_errno_are_refusals() {
    const NAME: &str = "probe_failures_with_any_errno_are_refusals";
    const ERRNOS: [i32; 5] = [i32::MIN, i32::MAX, 0, -libc::EBUSY, libc::EIO];
    const EXPECTED: [Option<i32>; 5] = [
        Some(libc::EIO),
        Some(i32::MAX),
        None,
        Some(libc::EBUSY),
        Some(libc::EIO),
    ];
    if !is_child(NAME) {
        let tree = FakePciTree::new().unwrap();
        for (i, _) in ERRNOS.iter().enumerate() {
            tree.add(
                &FakeDevice::new(addr(&format!("0000:00:1{i}.0"))).ids(0x1234, 0x100 + i as u16),
            )
            .unwrap();
        }
        child_passes(
            NAME,
            &[("SYSFS_PCI_DEVICES", tree.devices_dir().to_str().unwrap())],
        );
        return;
    }
    struct Refuses(i32);
    impl PciDriver for Refuses {
        type Device = ();
        fn probe(&self, _: &ProbedDevice<'_>) -> Result<(), ProbeFailure> {
            Err(ProbeFailure::new(self.0, "refused by the test"))
        }
        fn remove(&self, _: &ProbedDevice<'_>, _state: ()) {}
    }
    let drivers: Vec<_> = ERRNOS
        .iter()
        .enumerate()
        .map(|(i, &errno)| {
            register(
                &format!("rs_errno_{i}"),
                &[PciIdPattern::new(0x1234, 0x100 + i as u16)],
                DriverFlags::empty(),
                Refuses(errno),
            )
            .unwrap()
        })
        .collect();
    let mut eal = base_builder().init().expect("refusals do not stop the EAL");
    for (i, driver) in drivers.iter().enumerate() {
        assert_eq!(driver.bound_devices(), 0);
        let err = eal
            .probe(addr(&format!("0000:00:1{i}.0")))
            .expect_err("refused again");
        // DPDK passes the negative errno on; 0 becomes -1, DPDK's "no code",
        // and i32::MIN (which has no positive counterpart) becomes EIO.
        match EXPECTED[i] {
            Some(expected) => assert!(
                matches!(err, DeviceError::Failed { op: "probe", ref errno, .. } if errno.code() == expected),
                "errno {}: {err:?}",
                ERRNOS[i]
            ),
            None => assert!(
                matches!(err, DeviceError::FailedWithoutErrno { op: "probe", .. }),
                "errno {}: {err:?}",
                ERRNOS[i]
            ),
        }
    }
    drop(drivers);
    eal.cleanup().unwrap();
}
