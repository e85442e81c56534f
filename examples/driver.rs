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

const USAGE: &str = "usage: driver VENDOR:DEVICE ADDR [ADDR...]";

/// The ID the driver matches and the devices to probe; `None` for `--help`.
type Options = (PciIdPattern, Vec<PciAddress>);

fn parse_args(
    args: impl IntoIterator<Item = std::ffi::OsString>,
) -> Result<Option<Options>, lexopt::Error> {
    use lexopt::prelude::*;
    let mut operands = Vec::new();
    let mut parser = lexopt::Parser::from_args(args);
    while let Some(arg) = parser.next()? {
        match arg {
            Short('h') | Long("help") => return Ok(None),
            Value(v) => operands.push(v.string()?),
            _ => return Err(arg.unexpected()),
        }
    }
    let (id, addresses) = operands.split_first().ok_or("give VENDOR:DEVICE")?;
    let hex = |text: &str| {
        u16::from_str_radix(text, 16).map_err(|_| format!("{text:?} is not a 16-bit hex ID"))
    };
    let (vendor, device) = id
        .split_once(':')
        .ok_or("the ID is VENDOR:DEVICE, in hex")?;
    let id = PciIdPattern::new(hex(vendor)?, hex(device)?);
    let addresses = addresses
        .iter()
        .map(|a| a.parse::<PciAddress>().map_err(|e| e.to_string()))
        .collect::<Result<Vec<PciAddress>, _>>()?;
    if addresses.is_empty() {
        return Err("give at least one PCI address: only allowlisted devices are probed".into());
    }
    Ok(Some((id, addresses)))
}

fn run((id, addresses): Options) -> Result<(), Box<dyn std::error::Error>> {
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
    let options = match parse_args(std::env::args_os().skip(1)) {
        Ok(Some(options)) => options,
        Ok(None) => {
            println!("{HELP}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("driver: {e}\n{USAGE}\n(driver --help says more)");
            return ExitCode::from(2);
        }
    };
    match run(options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("driver: {e}");
            ExitCode::FAILURE
        }
    }
}
