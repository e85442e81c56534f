//! Lists the PCI devices DPDK's bus sees, grouped by kernel driver, in the
//! spirit of `dpdk-devbind.py --status`.
//!
//! ```text
//! probe --sysfs DIR [--allow ADDR]...   # a sysfs tree of your own (e.g. a test fixture)
//! probe --allow ADDR [--allow ADDR]...  # the real bus, only the listed devices
//! probe --all                           # the real bus, every device (DPDK may probe them!)
//! ```
//!
//! Devices DPDK's scan skipped (no kernel driver bound) are listed from sysfs.
//! A device whose sysfs files cannot be read is reported by name on stderr and
//! the listing goes on with the others; the exit status then says it failed.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use dpdk::{
    list_device_dirs, sysfs_pci_root, BarInfo, BarKind, Eal, KernelDriver, LogLevel, PciAddress,
    PciDevice, RegionIndex,
};

/// What `--help` prints.
const HELP: &str = "\
usage: probe --sysfs DIR [--allow ADDR]...   a sysfs tree of your own (e.g. a test fixture)
       probe --allow ADDR [--allow ADDR]...  the real bus, only the listed devices
       probe --all                           the real bus, every device (DPDK may probe them!)

Lists the PCI devices DPDK's bus sees, grouped by kernel driver.";

const USAGE: &str = "usage: probe --sysfs DIR | --allow ADDR... | --all";

struct Options {
    sysfs: Option<std::ffi::OsString>,
    allow: Vec<PciAddress>,
    all: bool,
}

/// `None` when the command line asks for `--help`.
fn parse_args(
    args: impl IntoIterator<Item = std::ffi::OsString>,
) -> Result<Option<Options>, lexopt::Error> {
    use lexopt::prelude::*;
    let mut opts = Options {
        sysfs: None,
        allow: Vec::new(),
        all: false,
    };
    let mut parser = lexopt::Parser::from_args(args);
    while let Some(arg) = parser.next()? {
        match arg {
            Short('h') | Long("help") => return Ok(None),
            Long("sysfs") => opts.sysfs = Some(parser.value()?),
            Long("allow") => {
                let text = parser.value()?.string()?;
                opts.allow
                    .push(text.parse::<PciAddress>().map_err(|e| e.to_string())?);
            }
            Long("all") => opts.all = true,
            _ => return Err(arg.unexpected()),
        }
    }
    if opts.sysfs.is_none() && opts.allow.is_empty() && !opts.all {
        return Err("say which devices: --sysfs DIR, --allow ADDR or --all".into());
    }
    Ok(Some(opts))
}

fn main() -> ExitCode {
    let opts = match parse_args(std::env::args_os().skip(1)) {
        Ok(Some(opts)) => opts,
        Ok(None) => {
            println!("{HELP}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("probe: {e}\n{USAGE}\n(probe --help says more)");
            return ExitCode::from(2);
        }
    };
    match run(opts) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("probe: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(opts: Options) -> Result<(), Box<dyn std::error::Error>> {
    if let Some(dir) = &opts.sysfs {
        // DPDK's PCI bus reads this variable when the EAL starts.
        std::env::set_var("SYSFS_PCI_DEVICES", dir);
    }
    let mut builder = Eal::builder()
        .no_huge(64 << 20)
        .no_shconf()
        .log_level(LogLevel::Error);
    for addr in &opts.allow {
        builder = builder.allow(*addr);
    }
    let eal = builder.init()?;

    let mut groups: BTreeMap<u8, (String, Vec<PciDevice>)> = BTreeMap::new();
    let mut on_bus = Vec::new();
    let mut unreadable = Vec::new();
    for (name, device) in eal.pci_devices().with_names() {
        // DPDK's names are addresses its own parser (and so PciAddress) accepts.
        if let Ok(address) = name.parse::<PciAddress>() {
            on_bus.push(address);
        }
        let device = match device {
            Ok(device) => device,
            Err(e) => {
                eprintln!("probe: {name}: {e}");
                unreadable.push(name);
                continue;
            }
        };
        let (rank, title) = group_of(device.kernel_driver.as_ref());
        groups
            .entry(rank)
            .or_insert_with(|| (title, Vec::new()))
            .1
            .push(device);
    }
    for (title, devices) in groups.values() {
        print_group(title, devices);
    }
    if !unreadable.is_empty() {
        let title = "On DPDK's bus, but unreadable (errors on stderr)";
        println!("\n{title}\n{}", "=".repeat(title.len()));
        for name in &unreadable {
            println!("{name}");
        }
    }

    let skipped: Vec<(PciAddress, PathBuf)> = list_device_dirs(&sysfs_pci_root())?
        .into_iter()
        .filter(|(addr, _)| !on_bus.contains(addr))
        .filter(|(addr, _)| opts.allow.is_empty() || opts.allow.contains(addr))
        .collect();
    if !skipped.is_empty() {
        println!("\nNot on DPDK's bus (no kernel driver bound)");
        println!("{}", "=".repeat(42));
        for (addr, dir) in skipped {
            // DPDK's scan reads some directory names as another address's text.
            let dir = dir.file_name().unwrap_or_default().to_string_lossy();
            if dir == addr.to_string() {
                println!("{addr}");
            } else {
                println!("{addr} (directory {dir:?})");
            }
        }
    }
    eal.cleanup()?;
    if !unreadable.is_empty() {
        return Err(format!("{} device(s) could not be read", unreadable.len()).into());
    }
    Ok(())
}

fn group_of(driver: Option<&KernelDriver>) -> (u8, String) {
    match driver {
        Some(KernelDriver::VfioPci | KernelDriver::UioPciGeneric | KernelDriver::IgbUio) => {
            (0, "Devices using a DPDK-compatible driver".to_owned())
        }
        // `KernelDriver::Other`, and any driver a later version of the crate names.
        Some(_) => (1, "Devices using a kernel driver".to_owned()),
        None => (2, "Devices without a kernel driver".to_owned()),
    }
}

fn print_group(title: &str, devices: &[PciDevice]) {
    println!("\n{title}\n{}", "=".repeat(title.len()));
    // Wide enough for 0000:00:00.0 and a space; a wide domain or function
    // takes up to 17 characters.
    let width = devices
        .iter()
        .map(|d| d.address.to_string().len())
        .fold(13, usize::max);
    println!(
        "{:<width$} {:<9} {:<9} {:<6} {:<4} {:<5} {:<16} {:<12} BARs",
        "address", "id", "subsys", "class", "numa", "iommu", "kernel driver", "dpdk driver"
    );
    for d in devices {
        let opt = |v: Option<u32>| v.map_or("-".to_owned(), |v| v.to_string());
        println!(
            "{:<width$} {:04x}:{:04x} {:04x}:{:04x} {:06x} {:<4} {:<5} {:<16} {:<12} {}",
            d.address.to_string(),
            d.ids.vendor,
            d.ids.device,
            d.ids.subsystem_vendor,
            d.ids.subsystem_device,
            d.class,
            opt(d.numa_node),
            opt(d.iommu_group),
            d.kernel_driver_name(),
            d.dpdk_driver.as_deref().unwrap_or("-"),
            bars_summary(&d.bars),
        );
    }
}

fn bars_summary(bars: &[Option<BarInfo>; 6]) -> String {
    let parts: Vec<String> = bars
        .iter()
        .flatten()
        .map(|b| {
            let kind = match b.kind {
                BarKind::Io => "io",
                BarKind::Memory if b.is_64bit => "mem64",
                BarKind::Memory => "mem32",
                _ => "other",
            };
            let pf = if b.prefetchable { ",pf" } else { "" };
            let index = match b.region {
                RegionIndex::Bar(n) => n.get().to_string(),
                other => other.to_string(),
            };
            format!("{index}:{}({kind}{pf})", human_size(b.len))
        })
        .collect();
    if parts.is_empty() {
        "-".to_owned()
    } else {
        parts.join(" ")
    }
}

fn human_size(bytes: u64) -> String {
    const UNITS: [(&str, u64); 4] = [("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10), ("", 1)];
    for (unit, size) in UNITS {
        if bytes >= size && bytes % size == 0 {
            return format!("{}{unit}", bytes / size);
        }
    }
    bytes.to_string()
}
