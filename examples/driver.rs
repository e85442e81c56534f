//! A PCI driver written in Rust, registered on DPDK's PCI bus: copy this to
//! start your own.
//!
//! ```text
//! driver VENDOR:DEVICE ADDR [ADDR...]    # e.g. driver 1234:11e8 0000:00:03.0
//! ```
//!
//! The driver registers before the EAL starts, DPDK's scan of the allowlisted
//! devices matches its ID table, maps the BARs through VFIO (the device must be
//! bound to vfio-pci) and calls `probe`; the program then removes each device
//! through DPDK, which calls `remove`.

use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};

use dpdk::{
    register, BarIndex, ConfigRegisters, DeviceError, DriverFlags, Eal, LogLevel, PciAddress,
    PciDriver, PciIdPattern, ProbeFailure, ProbedDevice,
};
// The BAR0 read in `probe` goes through a mapping: 64-bit targets only.
#[cfg(target_pointer_width = "64")]
use dpdk::Registers;

/// What `--help` prints.
const HELP: &str = "\
usage: driver VENDOR:DEVICE ADDR [ADDR...]    (e.g. driver 1234:11e8 0000:00:03.0)

Registers a PCI driver written in Rust for VENDOR:DEVICE (hex), lets DPDK
probe the listed devices (bound to vfio-pci) with it, then removes them.";

/// The driver's state: shared by every device it drives, so `Sync`.
#[derive(Default)]
struct MyDriver {
    probed: AtomicUsize,
}

impl PciDriver for MyDriver {
    type Device = ();
    fn probe(&self, dev: &ProbedDevice<'_>) -> Result<(), ProbeFailure> {
        let ids = dev.ids();
        println!(
            "probe {} ({:04x}:{:04x}, class {:06x}, NUMA node {:?})",
            dev.address(),
            ids.vendor,
            ids.device,
            dev.class(),
            dev.numa_node()
        );
        // Config space through DPDK works on every target.
        let command = dev.config().read16(0x04)?;
        println!("  config: command register {command:#06x}");
        for bar in BarIndex::ALL {
            let len = dev.bar_len(bar);
            if len > 0 {
                let state = if dev.bar_mapped(bar) {
                    "mapped by DPDK"
                } else {
                    "not mapped"
                };
                println!("  {bar}: {len:#x} bytes, {state}");
            }
        }
        // Registers through DPDK's mapping: 64-bit targets only, like every mapping.
        #[cfg(target_pointer_width = "64")]
        if let Some(bar0) = dev.bar(BarIndex::BAR0) {
            println!("  BAR0 register 0: {:#010x}", bar0.read32(0)?);
        }
        self.probed.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn remove(&self, dev: &ProbedDevice<'_>, _state: ()) {
        println!("remove {}", dev.address());
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let id = args
        .next()
        .ok_or("usage: driver VENDOR:DEVICE ADDR [ADDR...]")?;
    let (vendor, device) = id
        .split_once(':')
        .ok_or("the ID is VENDOR:DEVICE, in hex")?;
    let id = PciIdPattern::new(
        u16::from_str_radix(vendor, 16)?,
        u16::from_str_radix(device, 16)?,
    );
    let addresses: Vec<PciAddress> = args.map(|a| a.parse()).collect::<Result<_, _>>()?;
    if addresses.is_empty() {
        return Err("give at least one PCI address: only allowlisted devices are probed".into());
    }

    let driver = register(
        "rs_example",
        &[id],
        DriverFlags::NEED_MAPPING,
        MyDriver::default(),
    )?;
    let mut builder = Eal::builder()
        .no_huge(64 << 20)
        .no_shconf()
        .log_level(LogLevel::Notice);
    for a in &addresses {
        builder = builder.allow(*a);
    }
    let mut eal = builder.init()?;
    println!(
        "{} device(s) probed by rs_example",
        driver.driver().probed.load(Ordering::Relaxed)
    );
    // A device that fails to detach is reported by address; the others go on.
    let mut failed = Vec::new();
    for a in &addresses {
        match eal.remove(*a) {
            Ok(()) | Err(DeviceError::NotProbed(_)) => {}
            Err(e) => {
                eprintln!("driver: {a}: {e}");
                failed.push(a.to_string());
            }
        }
    }
    drop(driver);
    eal.cleanup()?;
    if !failed.is_empty() {
        return Err(format!("remove failed for {}", failed.join(", ")).into());
    }
    Ok(())
}

fn main() -> ExitCode {
    if std::env::args().skip(1).any(|a| a == "-h" || a == "--help") {
        println!("{HELP}");
        return ExitCode::SUCCESS;
    }
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("driver: {e}");
            ExitCode::FAILURE
        }
    }
}
