//! Starts the EAL over a fake sysfs PCI tree and prints what DPDK's bus saw,
//! using only the public API of the packaged `dpdk` crate.

use std::process::ExitCode;

use dpdk::{BarIndex, Eal, LogLevel};
use dpdk::testing::{FakeDevice, FakePciTree, FLAGS_MEM32};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("dpdk-outside-app: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let tree = FakePciTree::new()?;
    let address = "0000:00:03.0".parse()?;
    tree.add(
        &FakeDevice::new(address)
            .ids(0x1234, 0x11e8)
            .iommu_group(Some(3))
            .bar(BarIndex::BAR0, 0xfea0_0000, 1 << 20, FLAGS_MEM32),
    )?;
    std::env::set_var("SYSFS_PCI_DEVICES", tree.devices_dir());
    let eal = Eal::builder()
        .no_huge(64 << 20)
        .no_shconf()
        .log_level(LogLevel::Error)
        .init()?;
    dpdk::build_info::check_runtime(&eal)?;
    let mut seen = 0;
    for device in eal.pci_devices() {
        let device = device?;
        println!(
            "{} {:?} kernel driver {:?}",
            device.address, device.ids, device.kernel_driver
        );
        seen += 1;
    }
    println!(
        "DPDK {} ({}), {seen} device(s)",
        dpdk::build_info::DPDK_VERSION,
        dpdk::build_info::DPDK_ORIGIN
    );
    eal.cleanup()?;
    if seen != 1 {
        return Err(format!("expected the fake tree's one device, saw {seen}").into());
    }
    Ok(())
}
