//! Rust PCI drivers matched and probed by DPDK's own scan in the test VM, with
//! their BARs mapped by DPDK's VFIO code (`tools/vm-tests.sh` runs these with
//! `--ignored`, as x86_64 and as i686).
#![cfg(dpdk_pci_driver)]

mod common;

use std::sync::Mutex;

use common::{base_builder, in_vm_child};
use dpdk_safe::PciAddress;
use dpdk_safe::{register, DriverFlags, PciDriver, PciIdPattern, ProbeFailure, ProbedDevice};
use dpdk_safe::{BarIndex, ConfigRegisters, Registers};

const EDU: &str = "0000:00:03.0";
const IVSHMEM: &str = "0000:00:04.0";
const E1000E: &str = "0000:00:05.0";

/// Reads what each device answers during probe, through DPDK's mappings on
/// 64-bit targets and through DPDK's config-space calls on every target.
#[derive(Default)]
struct Observer {
    seen: Mutex<Vec<String>>,
}

impl Observer {
    fn note(&self, line: String) {
        self.seen.lock().unwrap().push(line);
    }
}

impl PciDriver for Observer {
    type Device = ();
    fn probe(&self, dev: &ProbedDevice<'_>) -> Result<(), ProbeFailure> {
        let config = dev.config();
        let ids = dev.ids();
        self.note(format!(
            "probe {} config {:08x}",
            dev.address(),
            config.read32(0)?
        ));
        assert_eq!(config.read16(0)?, ids.vendor);
        // Every target, mapped or not: rte_pci_mmio_read (24.11) or the VFIO
        // device file (22.11).
        let bar0 = dev
            .bar_registers(BarIndex::BAR0)
            .map_err(|e| ProbeFailure::new(libc::ENXIO, e.to_string()))?;
        self.note(format!(
            "{} BAR0 through DPDK {:08x} (0x{:x} bytes)",
            dev.address(),
            bar0.read32(0)?,
            bar0.window().size()
        ));
        if ids.device == 0x11e8 {
            bar0.write32(4, 0x1234_5678)?;
            self.note(format!("edu liveness through DPDK {:08x}", bar0.read32(4)?));
            let past_end = bar0.read32(bar0.window().size()).unwrap_err();
            self.note(format!("past the end: {past_end}"));
        }
        if let Ok(bar2) = dev.bar_registers(BarIndex::BAR2) {
            let mut head = [0u8; 4];
            bar2.read_bytes(0, &mut head)?;
            self.note(format!(
                "{} BAR2 through DPDK starts {:?}",
                dev.address(),
                String::from_utf8_lossy(&head)
            ));
        }
        #[cfg(target_pointer_width = "64")]
        {
            let bar0 = dev
                .bar(BarIndex::BAR0)
                .ok_or_else(|| ProbeFailure::new(libc::ENXIO, "BAR0 not mapped"))?;
            self.note(format!("{} BAR0[0] {:08x}", dev.address(), bar0.read32(0)?));
            if ids.device == 0x11e8 {
                bar0.write32(4, 0x0bad_cafe)?;
                self.note(format!("edu liveness {:08x}", bar0.read32(4)?));
            }
            if let Some(bar2) = dev.bar(BarIndex::BAR2) {
                let mut head = [0u8; 4];
                for (i, b) in head.iter_mut().enumerate() {
                    *b = bar2.read8(i as u64)?;
                }
                self.note(format!(
                    "{} BAR2 starts {:?}",
                    dev.address(),
                    String::from_utf8_lossy(&head)
                ));
            }
        }
        Ok(())
    }

    fn remove(&self, dev: &ProbedDevice<'_>, _state: ()) {
        self.note(format!("remove {}", dev.address()));
    }
}

#[test]
#[ignore = "needs the VM: tools/vm-tests.sh"]
fn rust_drivers_probed_by_dpdk_scan() {
    in_vm_child("rust_drivers_probed_by_dpdk_scan", || {
        let edu: PciAddress = EDU.parse().unwrap();
        let ivshmem: PciAddress = IVSHMEM.parse().unwrap();
        let ids = [
            PciIdPattern::new(0x1234, 0x11e8),
            PciIdPattern::new(0x1af4, 0x1110),
        ];
        let driver = register(
            "rs_observer",
            &ids,
            DriverFlags::NEED_MAPPING,
            Observer::default(),
        )
        .unwrap();
        let e1000e: PciAddress = E1000E.parse().unwrap();
        let mut eal = base_builder()
            .allow(edu)
            .allow(ivshmem)
            .allow(e1000e)
            .init()
            .expect("EAL probes the devices");
        assert_eq!(driver.bound_devices(), 2);
        // Beside the Rust driver, DPDK's own e1000 driver took the e1000e as an ethdev port.
        let ports = eal.eth_ports().unwrap();
        assert_eq!(ports.len(), 1, "{ports:?}");
        assert_eq!(
            (ports[0].driver.as_str(), ports[0].device.as_str()),
            ("net_e1000_em", E1000E)
        );
        assert_eq!(ports[0].mac_string(), "52:54:00:12:34:56");
        println!(
            "ethdev port {}: {} on {}, MAC {}",
            ports[0].port_id,
            ports[0].driver,
            ports[0].device,
            ports[0].mac_string()
        );
        assert_eq!(
            eal.pci_device(edu).unwrap().dpdk_driver.as_deref(),
            Some("rs_observer")
        );
        {
            let seen = driver.driver().seen.lock().unwrap();
            println!("{seen:#?}");
            assert!(
                seen.contains(&format!("probe {EDU} config 11e81234")),
                "{seen:?}"
            );
            assert!(
                seen.contains(&format!("probe {IVSHMEM} config 11101af4")),
                "{seen:?}"
            );
            assert!(
                seen.contains(&format!(
                    "{EDU} BAR0 through DPDK 010000ed (0x100000 bytes)"
                )),
                "{seen:?}"
            );
            assert!(
                seen.contains(&"edu liveness through DPDK edcba987".to_string()),
                "{seen:?}"
            );
            assert!(
                seen.contains(
                    &"past the end: BAR0: 4-byte access at 0x100000 is past the end (size 0x100000)"
                        .to_string()
                ),
                "{seen:?}"
            );
            let pattern = std::env::var("DPDK_RS_IVSHMEM_PATTERN").unwrap();
            assert!(
                seen.contains(&format!(
                    "{IVSHMEM} BAR2 through DPDK starts {:?}",
                    &pattern[..4]
                )),
                "{seen:?}"
            );
            #[cfg(target_pointer_width = "64")]
            {
                assert!(
                    seen.contains(&format!("{EDU} BAR0[0] 010000ed")),
                    "{seen:?}"
                );
                assert!(
                    seen.contains(&"edu liveness f4523501".to_string()),
                    "{seen:?}"
                );
                assert!(
                    seen.contains(&format!("{IVSHMEM} BAR2 starts {:?}", &pattern[..4])),
                    "{seen:?}"
                );
            }
        }
        eal.remove(edu).unwrap();
        eal.remove(ivshmem).unwrap();
        eal.remove(e1000e).unwrap();
        assert_eq!(
            eal.eth_port_count(),
            0,
            "the ethdev port went with its device"
        );
        assert_eq!(driver.bound_devices(), 0);
        let seen = driver.driver().seen.lock().unwrap();
        assert!(
            seen.contains(&format!("remove {EDU}")) && seen.contains(&format!("remove {IVSHMEM}")),
            "{seen:?}"
        );
        drop(seen);
        drop(driver);
        eal.cleanup().unwrap();
    });
}

/// What each probe saw of `ProbedDevice::bar`.
#[cfg(target_pointer_width = "64")]
#[derive(Default)]
struct BarViews(Mutex<Vec<String>>);

#[cfg(target_pointer_width = "64")]
impl PciDriver for BarViews {
    type Device = ();
    fn probe(&self, dev: &ProbedDevice<'_>) -> Result<(), ProbeFailure> {
        for index in [BarIndex::BAR0, BarIndex::BAR3] {
            let line = match dev.bar(index) {
                None => format!("{} {index} none", dev.address()),
                Some(bar) => {
                    let ranges = bar.mapped_ranges();
                    format!(
                        "{} {index} {:?} msix_mappable {} first {:08x}",
                        dev.address(),
                        ranges,
                        dev.bar_info(index).is_some_and(|info| info.msix_mappable),
                        bar.read32(ranges[0].start)?
                    )
                }
            };
            self.0.lock().unwrap().push(line);
        }
        Ok(())
    }

    fn remove(&self, _: &ProbedDevice<'_>, _state: ()) {}
}

/// `ProbedDevice::bar` gives views only over what DPDK mapped for this probe:
/// none for a driver without NEED_MAPPING after DPDK unmapped the BAR for an
/// earlier driver (its address is stale), and never the MSI-X table's pages
/// when the kernel does not let them be mapped (e1000e, table in BAR3).
#[cfg(target_pointer_width = "64")]
#[test]
#[ignore = "needs the VM: tools/vm-tests.sh"]
fn probed_bar_views_cover_only_what_dpdk_mapped() {
    in_vm_child("probed_bar_views_cover_only_what_dpdk_mapped", || {
        let edu: PciAddress = EDU.parse().unwrap();
        let e1000e: PciAddress = E1000E.parse().unwrap();
        // Registered before the EAL starts, so ahead of DPDK's e1000 driver.
        let mapping = register(
            "rs_views_mapped",
            &[
                PciIdPattern::new(0x1234, 0x11e8),
                PciIdPattern::new(0x8086, 0x10d3),
            ],
            DriverFlags::NEED_MAPPING,
            BarViews::default(),
        )
        .unwrap();
        let mut eal = base_builder().allow(edu).allow(e1000e).init().unwrap();
        let seen = mapping.driver().0.lock().unwrap().clone();
        println!("with NEED_MAPPING: {seen:#?}");
        assert!(
            seen.iter()
                .any(|l| l.starts_with("0000:00:03.0 BAR0 [0..1048576]")
                    && l.ends_with("first 010000ed")),
            "{seen:?}"
        );
        assert!(
            seen.contains(&"0000:00:03.0 BAR3 none".to_owned()),
            "{seen:?}"
        );
        // Registered before the EAL loaded DPDK's driver plugins, the Rust
        // driver comes first on the bus's list and takes the e1000e too. Its
        // BAR3 holds the MSI-X table, which Linux reports mappable (the case
        // where DPDK leaves the table out is the mapping unit tests'): DPDK
        // mapped all 16 KiB, and entry 0 reads 0 after reset.
        assert_eq!(mapping.bound_devices(), 2, "{seen:?}");
        assert!(
            seen.contains(
                &"0000:00:05.0 BAR3 [0..16384] msix_mappable true first 00000000".to_owned()
            ),
            "{seen:?}"
        );
        // DPDK unmaps edu's BARs when the device is removed, and keeps the
        // old address in its device; a driver without NEED_MAPPING probed
        // next must not get a view of it.
        eal.remove(edu).unwrap();
        drop(mapping);
        let unmapped = eal
            .register_driver(
                "rs_views_unmapped",
                &[PciIdPattern::new(0x1234, 0x11e8)],
                DriverFlags::empty(),
                BarViews::default(),
            )
            .unwrap();
        eal.probe(edu).unwrap();
        let seen = unmapped.driver().0.lock().unwrap().clone();
        println!("without NEED_MAPPING: {seen:#?}");
        assert_eq!(seen, ["0000:00:03.0 BAR0 none", "0000:00:03.0 BAR3 none"]);
        eal.remove(edu).unwrap();
        drop(unmapped);
        eal.cleanup().unwrap();
    });
}
