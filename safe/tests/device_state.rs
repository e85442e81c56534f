//! Per-device state of Rust drivers, over a fake sysfs tree: probe returns the
//! state, the framework keeps it until remove gives it back, the application
//! reaches it through the registration, and a bound-device handle kept across
//! a removal is revoked (a typed error, never a stale pointer).
#![cfg(dpdk_pci_driver)]

mod common;

use std::sync::Mutex;

use common::{base_builder, child_passes, is_child};
use dpdk_safe::testing::{FakeDevice, FakePciTree};
use dpdk_safe::{
    register, BoundDevice, DriverFlags, PciAddress, PciDriver, PciIdPattern, ProbeFailure,
    ProbedDevice, Revoked,
};

/// What the driver keeps per device.
#[derive(Debug)]
struct State {
    handle: BoundDevice,
    probed_as: String,
    uses: u32,
}

/// Gives each device a state; records the states remove got back.
#[derive(Default)]
struct Stateful {
    returned: Mutex<Vec<(String, u32)>>,
    /// Handles kept by the application's side, for after removal.
    kept: Mutex<Vec<BoundDevice>>,
}

impl PciDriver for Stateful {
    type Device = State;
    fn probe(&self, device: &ProbedDevice<'_>) -> Result<State, ProbeFailure> {
        if device.ids().device == 0xbad0 {
            // A handle made by a probe that then fails is revoked at once.
            self.kept.lock().unwrap().push(device.bind());
            return Err(ProbeFailure::new(libc::ENODEV, "refused"));
        }
        let handle = device.bind();
        self.kept.lock().unwrap().push(handle.clone());
        Ok(State {
            handle,
            probed_as: device.name(),
            uses: 0,
        })
    }
    fn remove(&self, device: &ProbedDevice<'_>, state: State) {
        // The handle still works while remove runs.
        let ids = state
            .handle
            .with(|d| d.ids().device)
            .expect("alive in remove");
        assert_eq!(ids, device.ids().device);
        self.returned
            .lock()
            .unwrap()
            .push((state.probed_as, state.uses));
    }
}

fn addr(s: &str) -> PciAddress {
    s.parse().unwrap()
}

#[test]
fn state_lives_from_probe_to_remove_and_handles_are_revoked() {
    const NAME: &str = "state_lives_from_probe_to_remove_and_handles_are_revoked";
    if !is_child(NAME) {
        let tree = FakePciTree::new().unwrap();
        tree.add(&FakeDevice::new(addr("0000:00:03.0")).ids(0x1234, 0x11e8))
            .unwrap();
        tree.add(&FakeDevice::new(addr("0000:00:04.0")).ids(0x1234, 0x11e8))
            .unwrap();
        tree.add(&FakeDevice::new(addr("0000:00:05.0")).ids(0x1234, 0xbad0))
            .unwrap();
        child_passes(
            NAME,
            &[("SYSFS_PCI_DEVICES", tree.devices_dir().to_str().unwrap())],
        );
        return;
    }
    let driver = register(
        "rs_stateful",
        &[
            PciIdPattern::new(0x1234, 0x11e8),
            PciIdPattern::new(0x1234, 0xbad0),
        ],
        DriverFlags::empty(),
        Stateful::default(),
    )
    .unwrap();
    let mut eal = base_builder().init().expect("EAL with the fake devices");
    let mut devices = driver.devices();
    devices.sort();
    assert_eq!(devices, [addr("0000:00:03.0"), addr("0000:00:04.0")]);
    assert_eq!(driver.bound_devices(), 2);

    // The refused device's handle is revoked already.
    let kept = driver.driver().kept.lock().unwrap().clone();
    assert_eq!(kept.len(), 3);
    let refused = kept
        .iter()
        .find(|h| h.address() == addr("0000:00:05.0"))
        .unwrap();
    assert!(refused.is_revoked());
    assert_eq!(refused.with(|_| ()), Err(Revoked(addr("0000:00:05.0"))));

    // The application reaches the state and the device after init, from
    // another thread too.
    let used = driver.with_device(addr("0000:00:03.0"), |state| {
        state.uses += 1;
        state.handle.with(|d| d.address()).unwrap()
    });
    assert_eq!(used, Some(addr("0000:00:03.0")));
    assert!(driver.with_device(addr("0000:00:05.0"), |_| ()).is_none());
    let handle = driver
        .with_device(addr("0000:00:03.0"), |state| state.handle.clone())
        .unwrap();
    let from_thread = std::thread::scope(|s| {
        s.spawn(|| handle.with(|d| (d.ids().vendor, d.ids().device)))
            .join()
            .unwrap()
    });
    assert_eq!(from_thread, Ok((0x1234, 0x11e8)));
    driver.with_device(addr("0000:00:03.0"), |state| state.uses += 2);

    // Removal gives the state back to remove, then revokes every handle.
    eal.remove(addr("0000:00:03.0")).unwrap();
    assert_eq!(
        driver.driver().returned.lock().unwrap().as_slice(),
        [("0000:00:03.0".to_owned(), 3)]
    );
    assert!(handle.is_revoked());
    assert_eq!(
        handle.with(|d| d.ids().device),
        Err(Revoked(addr("0000:00:03.0")))
    );
    let err = handle.with(|_| ()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "PCI device 0000:00:03.0 was removed from DPDK's bus: its handle is revoked"
    );
    assert_eq!(driver.devices(), [addr("0000:00:04.0")]);
    assert!(driver.with_device(addr("0000:00:03.0"), |_| ()).is_none());

    // Probed again: a new state and a new handle; the old one stays revoked.
    eal.probe(addr("0000:00:03.0")).unwrap();
    assert!(
        handle.is_revoked(),
        "a removed device's handle never comes back"
    );
    let fresh = driver
        .with_device(addr("0000:00:03.0"), |state| {
            assert_eq!(state.uses, 0, "a fresh state");
            state.handle.clone()
        })
        .unwrap();
    assert!(!fresh.is_revoked());

    // EAL cleanup removes the rest: their states come back, their handles go.
    let other = driver
        .with_device(addr("0000:00:04.0"), |state| state.handle.clone())
        .unwrap();
    eal.cleanup().unwrap();
    assert!(fresh.is_revoked() && other.is_revoked());
    let mut returned: Vec<_> = driver.driver().returned.lock().unwrap().clone();
    returned.sort();
    assert_eq!(returned.len(), 3, "{returned:?}");
    assert_eq!(driver.bound_devices(), 0);
}
