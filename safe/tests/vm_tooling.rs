//! Tooling on the test VM's real (emulated) bus (`tools/vm-tests.sh` runs it
//! with `--ignored`); never run on a machine's own bus.
//!
//! * `pci::devbind`: QEMU's edu is moved off vfio-pci and back, and the crate
//!   opens it afterwards. The VM's init binds edu with vfio-pci's `new_id`, so
//!   vfio-pci is also the driver the kernel picks for it on a re-probe.
//! * DPDK's log: the e1000 driver's lines while it probes the e1000e arrive as
//!   records of the `log` crate with the driver's log type as target.

mod common;

use std::sync::Mutex;

use common::{base_builder, in_vm_child};
use dpdk_safe::PciAddress;
use dpdk_safe::{Devbind, DevbindError, KernelDriver};
use dpdk_safe::{EalBuilder, LogLevel};
use dpdk_safe::{RegionIndex, Registers};

const EDU: &str = "0000:00:03.0";
const E1000E: &str = "0000:00:05.0";

fn edu() -> PciAddress {
    EDU.parse().unwrap()
}

#[test]
#[ignore = "needs the VM: tools/vm-tests.sh"]
fn edu_moves_off_vfio_pci_and_back_then_opens() {
    in_vm_child("edu_moves_off_vfio_pci_and_back_then_opens", || {
        let devbind = Devbind::system();
        let before = devbind.device_status(edu()).unwrap();
        assert_eq!(before.driver, Some(KernelDriver::VfioPci), "{before:?}");
        let group = before.iommu_group.expect("the VM has an IOMMU");
        println!("before: {before:?}");

        devbind.unbind(edu()).unwrap();
        let off = devbind.device_status(edu()).unwrap();
        assert_eq!(off.driver, None, "{off:?}");
        assert!(!std::path::Path::new(&format!("/sys/bus/pci/devices/{EDU}/driver")).exists());

        let binding = devbind.bind(edu(), "vfio-pci").unwrap();
        assert_eq!(binding.original, None);
        let on = devbind.device_status(edu()).unwrap();
        assert_eq!(on.driver, Some(KernelDriver::VfioPci));
        assert_eq!(on.iommu_group, Some(group));
        assert_eq!(on.driver_override, None, "the override is cleared again");

        // Unbinding what the binding changed, then the kernel's own pick.
        devbind.restore_binding(binding).unwrap();
        assert_eq!(devbind.device_status(edu()).unwrap().driver, None);
        let picked = devbind.restore(edu()).unwrap();
        assert_eq!(
            picked,
            Some(KernelDriver::VfioPci),
            "vfio-pci's new_id matches edu"
        );

        // A driver that does not exist: refused before anything is written.
        let err = devbind.bind(edu(), "no-such-driver").unwrap_err();
        assert!(matches!(err, DevbindError::DriverNotLoaded { .. }), "{err}");
        assert_eq!(
            devbind.device_status(edu()).unwrap().driver,
            Some(KernelDriver::VfioPci)
        );

        // The crate opens it afterwards: edu's ID register through VFIO.
        let eal = base_builder().allow(edu()).init().expect("EAL with edu");
        let dev = eal.vfio_open(edu()).unwrap();
        let id = dev.region(RegionIndex::BAR0).unwrap().read32(0).unwrap();
        assert_eq!(id, 0x010000ed, "edu ID register");
        drop(dev);
        eal.cleanup().unwrap();
    });
}

/// Keeps every record: (level, target, message).
struct Capture(Mutex<Vec<(log::Level, String, String)>>);

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &log::Record<'_>) {
        self.0.lock().unwrap().push((
            record.level(),
            record.target().to_owned(),
            record.args().to_string(),
        ));
    }
    fn flush(&self) {}
}

static CAPTURE: Capture = Capture(Mutex::new(Vec::new()));

#[test]
#[ignore = "needs the VM: tools/vm-tests.sh"]
fn a_pci_driver_s_log_lines_are_log_records() {
    in_vm_child("a_pci_driver_s_log_lines_are_log_records", || {
        log::set_logger(&CAPTURE).unwrap();
        log::set_max_level(log::LevelFilter::Debug);
        let eal = EalBuilder::new()
            .program_name("dpdk-rs-test")
            .lcores([0])
            .no_huge(64 << 20)
            .no_shconf()
            .allow(E1000E.parse().unwrap())
            // The global level lets DEBUG through; each log type's own level
            // (lib.eal: INFO) still applies.
            .log_level(LogLevel::Debug)
            .log_level_for("pmd.net.e1000.*", LogLevel::Debug)
            // The shared code's function trace: hundreds of lines.
            .log_level_for("pmd.net.e1000.driver", LogLevel::Notice)
            .log_level_for("pmd.net.e1000.rx", LogLevel::Notice)
            .log_level_for("pmd.net.e1000.tx", LogLevel::Notice)
            .init()
            .expect("EAL with the e1000e");
        assert_eq!(eal.eth_port_count(), 1, "net_e1000_em took the e1000e");
        let records = CAPTURE.0.lock().unwrap().clone();
        for (level, target, message) in &records {
            println!("record: {level:<5} {target:<20} {message:?}");
        }
        // The EAL's line about the probe, and the driver's own line.
        assert!(
            records.iter().any(|(l, t, m)| *l == log::Level::Info
                && t == "lib.eal"
                && m.contains("Probe PCI driver: net_e1000_em (8086:10d3) device: 0000:00:05.0")),
            "{records:#?}"
        );
        assert!(
            records.iter().any(|(l, t, m)| *l == log::Level::Debug
                && t == "pmd.net.e1000.init"
                && m.contains("vendorID=0x8086 deviceID=0x10d3")),
            "{records:#?}"
        );
        eal.cleanup().unwrap();
    });
}
