//! Device events reach every subscriber, in order, from DPDK's own dispatch
//! (`rte_dev_event_callback_process`, which DPDK's PCI bus calls on a VFIO
//! removal request; here the test calls it, as the VM test's hot-unplug does
//! through the kernel), and stop at a dropped subscriber.

mod common;

use std::ffi::CString;
use std::time::{Duration, Instant};

use common::{base_builder, child_passes, is_child};
use dpdk_safe::{DeviceEvent, DeviceEventKind, PciAddress};

/// What DPDK's PCI bus does when the kernel asks for a device back.
fn dispatch(device: &str, event: dpdk_sys::rte_dev_event_type) {
    let name = CString::new(device).unwrap();
    // SAFETY: a NUL-terminated name valid for the call; DPDK walks its
    // callback list and calls each registered callback with it.
    unsafe { dpdk_sys::rte_dev_event_callback_process(name.as_ptr(), event) };
}

#[test]
fn events_reach_every_subscriber_until_it_is_dropped() {
    let name = "events_reach_every_subscriber_until_it_is_dropped";
    if !is_child(name) {
        child_passes(name, &[]);
        return;
    }
    let eal = base_builder()
        .no_pci()
        .vdev("net_null0")
        .init()
        .expect("init");
    let first = eal.device_events().expect("subscribe");
    let second = eal.device_events().expect("a second subscriber");
    assert_eq!(first.try_next(), None, "a new subscription starts empty");

    dispatch(
        "0000:00:03.0",
        dpdk_sys::rte_dev_event_type_RTE_DEV_EVENT_REMOVE,
    );
    dispatch("net_null0", dpdk_sys::rte_dev_event_type_RTE_DEV_EVENT_ADD);
    let removed = DeviceEvent {
        device: "0000:00:03.0".to_owned(),
        kind: DeviceEventKind::Removed,
    };
    let added = DeviceEvent {
        device: "net_null0".to_owned(),
        kind: DeviceEventKind::Added,
    };
    for events in [&first, &second] {
        let got = events
            .next_timeout(Duration::from_secs(5))
            .expect("first event");
        assert_eq!(got, removed);
        assert_eq!(got.pci_address(), Some(PciAddress::new(0, 0, 3, 0)));
        assert_eq!(events.try_next(), Some(added.clone()), "in order");
        assert_eq!(events.try_next(), None);
    }

    // From another thread, while the subscriber waits.
    let waiter = std::thread::spawn(move || {
        let got = second.next_timeout(Duration::from_secs(10));
        (got, second)
    });
    std::thread::sleep(Duration::from_millis(100));
    dispatch(
        "0000:00:04.0",
        dpdk_sys::rte_dev_event_type_RTE_DEV_EVENT_REMOVE,
    );
    let (got, second) = waiter.join().unwrap();
    assert_eq!(got.map(|e| e.device), Some("0000:00:04.0".to_owned()));

    // A dropped subscriber hears nothing more; the other still does.
    drop(second);
    dispatch(
        "0000:00:05.0",
        dpdk_sys::rte_dev_event_type_RTE_DEV_EVENT_REMOVE,
    );
    let mut seen = Vec::new();
    while let Some(event) = first.try_next() {
        seen.push(event.device);
    }
    assert_eq!(seen, ["0000:00:04.0", "0000:00:05.0"]);

    // Waiting with nothing to come returns None after the timeout.
    let start = Instant::now();
    assert_eq!(first.next_timeout(Duration::from_millis(200)), None);
    assert!(start.elapsed() >= Duration::from_millis(200));
    drop(first);
    drop(eal);
}
