//! Another DPDK process cannot attach or detach devices in this one: a
//! secondary process's hotplug requests are refused by the primary, whose Rust
//! driver keeps its device, whose iterator keeps walking a list that did not
//! change under it, and whose hot-registered driver is not probed behind its
//! back. Over a fake sysfs tree, with DPDK's multi-process channel on (no
//! `--no-shconf`).
#![cfg(dpdk_pci_driver)]

mod common;

use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::{child_command, child_passes, is_child};
use dpdk_safe::testing::{FakeDevice, FakePciTree};
use dpdk_safe::{register, DriverFlags, PciDriver, PciIdPattern, ProbeFailure, ProbedDevice};
use dpdk_safe::{DeviceError, PciAddress};
use dpdk_safe::{EalBuilder, LogLevel};

const PRIMARY: &str = "secondary_hotplug_requests_are_refused";
const SECONDARY: &str = "secondary_role";
const PREFIX_VAR: &str = "DPDK_RS_TEST_FILE_PREFIX";

#[derive(Default)]
struct Recorder(Mutex<Vec<String>>);

impl PciDriver for Recorder {
    type Device = ();
    fn probe(&self, device: &ProbedDevice<'_>) -> Result<(), ProbeFailure> {
        self.0
            .lock()
            .unwrap()
            .push(format!("probe {}", device.address()));
        Ok(())
    }

    fn remove(&self, device: &ProbedDevice<'_>, _state: ()) {
        self.0
            .lock()
            .unwrap()
            .push(format!("remove {}", device.address()));
    }
}

fn addr(s: &str) -> PciAddress {
    s.parse().unwrap()
}

const HUGE_DIR_VAR: &str = "DPDK_RS_TEST_HUGE_DIR";

/// Multi-process EAL arguments: shared files under a prefix of this run, and
/// hugepages (a secondary cannot attach to a `--no-huge` primary: its memory
/// is private).
fn builder(program: &str) -> EalBuilder {
    EalBuilder::new()
        .program_name(program)
        .lcores([0])
        .file_prefix(&std::env::var(PREFIX_VAR).unwrap())
        .arg("--huge-dir")
        .arg(std::env::var(HUGE_DIR_VAR).unwrap())
        .log_level(LogLevel::Warning)
}

/// 2 MiB hugepages reserved for the test and a hugetlbfs mount of its own;
/// both are given back on drop.
struct Hugepages {
    before: u64,
    mount: std::path::PathBuf,
}

const NR_HUGEPAGES: &str = "/proc/sys/vm/nr_hugepages";

impl Hugepages {
    fn reserve(pages: u64) -> Hugepages {
        let before: u64 = std::fs::read_to_string(NR_HUGEPAGES)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        std::fs::write(NR_HUGEPAGES, (before + pages).to_string()).unwrap();
        let mount = std::env::temp_dir().join(format!("dpdk-rs-huge-{}", std::process::id()));
        std::fs::create_dir_all(&mount).unwrap();
        let status = std::process::Command::new("mount")
            .args(["-t", "hugetlbfs", "-o", "pagesize=2M", "nodev"])
            .arg(&mount)
            .status()
            .unwrap();
        assert!(status.success(), "mounting hugetlbfs on {mount:?}");
        Hugepages { before, mount }
    }
}

impl Drop for Hugepages {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(&self.mount)
            .status();
        let _ = std::fs::remove_dir(&self.mount);
        let _ = std::fs::write(NR_HUGEPAGES, self.before.to_string());
    }
}

#[test]
#[ignore = "reserves hugepages and mounts hugetlbfs as root: tools/test.sh runs it on the host"]
fn secondary_hotplug_requests_are_refused() {
    if !is_child(PRIMARY) {
        let tree = FakePciTree::new().unwrap();
        tree.add(&FakeDevice::new(addr("0000:00:03.0")).ids(0x1234, 0x11e8))
            .unwrap();
        tree.add(&FakeDevice::new(addr("0000:00:04.0")).ids(0x1234, 0xbeef))
            .unwrap();
        let prefix = format!("dpdk-rs-mp-{}", std::process::id());
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            panic!("this test reserves hugepages and mounts hugetlbfs: run it as root");
        }
        let huge = Hugepages::reserve(96);
        let out = child_passes(
            PRIMARY,
            &[
                ("SYSFS_PCI_DEVICES", tree.devices_dir().to_str().unwrap()),
                (PREFIX_VAR, &prefix),
                (HUGE_DIR_VAR, huge.mount.to_str().unwrap()),
            ],
        );
        drop(huge);
        println!("{out}");
        let _ = std::fs::remove_dir_all(format!("/var/run/dpdk/{prefix}"));
        return;
    }
    let a = register(
        "rs_mp_a",
        &[PciIdPattern::new(0x1234, 0x11e8)],
        DriverFlags::empty(),
        Recorder::default(),
    )
    .unwrap();
    let mut eal = builder("dpdk-rs-mp-primary")
        .memory_mb(64)
        .init()
        .expect("primary EAL");
    assert_eq!(a.bound_devices(), 1);
    let b = eal
        .register_driver(
            "rs_mp_b",
            &[PciIdPattern::new(0x1234, 0xbeef)],
            DriverFlags::empty(),
            Recorder::default(),
        )
        .unwrap();
    {
        // An iterator holds DPDK's first device while the secondary runs.
        let mut devices = eal.pci_devices();
        let first = devices.next().unwrap().unwrap();
        assert_eq!(first.address, addr("0000:00:03.0"));

        let mut secondary = child_command(SECONDARY, &[]);
        for var in ["SYSFS_PCI_DEVICES", PREFIX_VAR, HUGE_DIR_VAR] {
            secondary.env(var, std::env::var(var).unwrap());
        }
        let started = Instant::now();
        let out = secondary.output().expect("starting the secondary");
        let text = common::passed(SECONDARY, &out);
        println!("secondary ({:?}):\n{text}", started.elapsed());
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the refusals were answered at once, not by time-out"
        );

        // Nothing changed here: the iterator goes on to the second device.
        let second = devices.next().unwrap().unwrap();
        assert_eq!(second.address, addr("0000:00:04.0"));
        assert!(devices.next().is_none());
    }
    assert_eq!(
        a.driver().0.lock().unwrap().as_slice(),
        ["probe 0000:00:03.0"],
        "the secondary's detach request did not reach this process's driver"
    );
    assert_eq!(a.bound_devices(), 1);
    assert_eq!(
        b.bound_devices(),
        0,
        "the secondary's attach request did not probe"
    );
    assert_eq!(
        eal.pci_device(addr("0000:00:03.0"))
            .unwrap()
            .dpdk_driver
            .as_deref(),
        Some("rs_mp_a")
    );
    // This process's own calls still work.
    eal.probe(addr("0000:00:04.0")).unwrap();
    assert_eq!(b.bound_devices(), 1);
    eal.remove(addr("0000:00:03.0")).unwrap();
    assert_eq!(a.bound_devices(), 0);
    drop((a, b));
    eal.cleanup().unwrap();
}

/// Run by the primary: a secondary process asks to detach the primary's
/// probed device and to attach another one; both are refused with EACCES.
#[test]
#[ignore = "started by secondary_hotplug_requests_are_refused"]
fn secondary_role() {
    if !is_child(SECONDARY) {
        return; // only meaningful as the primary's child
    }
    // The secondary probes 0000:00:03.0 itself at start-up, so that DPDK lets
    // it ask for the device's removal.
    let mine = register(
        "rs_mp_a",
        &[PciIdPattern::new(0x1234, 0x11e8)],
        DriverFlags::empty(),
        Recorder::default(),
    )
    .unwrap();
    let mut eal = builder("dpdk-rs-mp-secondary")
        .arg("--proc-type=secondary")
        .init()
        .expect("secondary EAL");
    assert_eq!(mine.bound_devices(), 1);
    let detach = eal.remove(addr("0000:00:03.0")).unwrap_err();
    println!("detach request: {detach}");
    assert!(
        matches!(
            detach,
            DeviceError::Failed { ref errno, .. } if errno.code() == libc::EACCES
        ),
        "{detach:?}"
    );
    let attach = eal.probe(addr("0000:00:04.0")).unwrap_err();
    println!("attach request: {attach}");
    assert!(
        matches!(
            attach,
            DeviceError::Failed { ref errno, .. } if errno.code() == libc::EACCES
        ),
        "{attach:?}"
    );
    drop(mine);
    eal.cleanup().unwrap();
}
