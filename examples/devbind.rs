//! Shows and changes which kernel driver PCI devices are bound to, as
//! `dpdk-devbind.py` does, with `dpdk::devbind`.
//!
//! ```text
//! devbind --status                      # every device, its driver and IOMMU group; hugepages
//! devbind --bind vfio-pci ADDR...       # give devices to vfio-pci (for DPDK)
//! devbind --unbind ADDR...              # unbind devices from their driver
//! devbind --restore ADDR...             # give devices back to their own kernel driver
//! ```
//!
//! `--sysfs DIR` works on another devices directory (a test tree) instead of
//! `$SYSFS_PCI_DEVICES` or `/sys/bus/pci/devices`; `--modprobe` loads the
//! driver's module when it is missing (real `/sys` only). Refusals (an
//! interface that is up, a mounted disk, a group that is not viable, no IOMMU)
//! go to standard error with exit status 1; usage errors exit with 2.

use std::path::PathBuf;
use std::process::ExitCode;

use dpdk::{hugepage_status, Devbind, DeviceStatus, KernelDriver, PciAddress};

const USAGE: &str = "\
usage: devbind [--sysfs DIR] --status
       devbind [--sysfs DIR] [--modprobe] --bind DRIVER ADDR...
       devbind [--sysfs DIR] --unbind ADDR...
       devbind [--sysfs DIR] --restore ADDR...";

/// What `--help` prints after the usage.
const OPTIONS: &str = "\
  --status          list every PCI device with its driver and IOMMU group, and hugepages
  --bind DRIVER     bind the devices to DRIVER (vfio-pci for DPDK)
  --unbind          unbind the devices from their driver
  --restore         unbind, then let the kernel bind each device's own driver
  --sysfs DIR       the PCI devices directory (default: $SYSFS_PCI_DEVICES or /sys/bus/pci/devices)
  --modprobe        load DRIVER's module if it is not loaded (real /sys only)
  -h, --help        show this help";

enum Action {
    Status,
    Bind(String),
    Unbind,
    Restore,
}

struct Options {
    action: Action,
    addresses: Vec<PciAddress>,
    sysfs: Option<PathBuf>,
    modprobe: bool,
}

fn parse_args(
    args: impl IntoIterator<Item = std::ffi::OsString>,
) -> Result<Option<Options>, lexopt::Error> {
    use lexopt::prelude::*;
    let mut action = None;
    let mut addresses = Vec::new();
    let mut sysfs = None;
    let mut modprobe = false;
    let set = |a: Action, action: &mut Option<Action>| {
        if action.is_some() {
            return Err("give one of --status, --bind, --unbind, --restore");
        }
        *action = Some(a);
        Ok(())
    };
    let mut parser = lexopt::Parser::from_args(args);
    while let Some(arg) = parser.next()? {
        match arg {
            Short('h') | Long("help") => return Ok(None),
            Long("status") => set(Action::Status, &mut action)?,
            Long("bind") => {
                let driver = parser.value()?.string()?;
                set(Action::Bind(driver), &mut action)?
            }
            Long("unbind") => set(Action::Unbind, &mut action)?,
            Long("restore") => set(Action::Restore, &mut action)?,
            Long("sysfs") => sysfs = Some(PathBuf::from(parser.value()?)),
            Long("modprobe") => modprobe = true,
            Value(v) => {
                let text = v.string()?;
                addresses.push(text.parse().map_err(|e| format!("{text:?}: {e}"))?)
            }
            _ => return Err(arg.unexpected()),
        }
    }
    let action = action.ok_or("say what to do: --status, --bind, --unbind or --restore")?;
    match action {
        Action::Status if !addresses.is_empty() => return Err("--status takes no addresses".into()),
        Action::Bind(_) | Action::Unbind | Action::Restore if addresses.is_empty() => {
            return Err("give the devices' PCI addresses".into())
        }
        _ => {}
    }
    Ok(Some(Options {
        action,
        addresses,
        sysfs,
        modprobe,
    }))
}

fn main() -> ExitCode {
    let options = match parse_args(std::env::args_os().skip(1)) {
        Ok(Some(options)) => options,
        Ok(None) => {
            println!("{USAGE}\n\n{OPTIONS}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("devbind: {e}\n{USAGE}\n(devbind --help says more)");
            return ExitCode::from(2);
        }
    };
    match run(&options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("devbind: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(options: &Options) -> Result<(), Box<dyn std::error::Error>> {
    let devbind = match &options.sysfs {
        Some(dir) => Devbind::at(dir),
        None => Devbind::system(),
    }
    .load_modules(options.modprobe);
    let mut failed = 0;
    for &address in &options.addresses {
        let result = match &options.action {
            Action::Status => unreachable!("checked by parse_args"),
            Action::Bind(driver) => devbind
                .bind(address, driver)
                .map(|b| format!("{address}: bound to {driver} (was {})", name(&b.original))),
            Action::Unbind => devbind
                .unbind(address)
                .map(|()| format!("{address}: unbound")),
            Action::Restore => devbind
                .restore(address)
                .map(|now| format!("{address}: now bound to {}", name(&now))),
        };
        match result {
            Ok(line) => println!("{line}"),
            Err(e) => {
                eprintln!("devbind: {e}");
                failed += 1;
            }
        }
    }
    if let Action::Status = options.action {
        print_status(&devbind.status()?);
        match hugepage_status() {
            Ok(status) => {
                println!("\nHugepages\n=========\n{status}");
                if let Some(advice) = status.advice() {
                    println!("{advice}");
                }
            }
            Err(e) => eprintln!("devbind: hugepages: {e}"),
        }
    }
    if failed > 0 {
        return Err(format!("{failed} of {} device(s) failed", options.addresses.len()).into());
    }
    Ok(())
}

fn name(driver: &Option<KernelDriver>) -> &str {
    driver.as_ref().map_or("no driver", KernelDriver::name)
}

fn print_status(devices: &[DeviceStatus]) {
    type Belongs = fn(&DeviceStatus) -> bool;
    let groups: [(&str, Belongs); 3] = [
        ("Bound to vfio-pci (usable by DPDK)", |d| {
            d.driver == Some(KernelDriver::VfioPci)
        }),
        ("Bound to another kernel driver", |d| {
            d.driver
                .as_ref()
                .is_some_and(|n| *n != KernelDriver::VfioPci)
        }),
        ("No driver", |d| d.driver.is_none()),
    ];
    for (title, belongs) in groups {
        let members: Vec<&DeviceStatus> = devices.iter().filter(|d| belongs(d)).collect();
        if members.is_empty() {
            continue;
        }
        println!("\n{title}\n{}", "=".repeat(title.len()));
        for d in members {
            let mut line = format!(
                "{} {:04x}:{:04x} class {:06x}",
                d.address,
                d.ids.vendor,
                d.ids.device,
                d.class.code()
            );
            match d.iommu_group {
                Some(g) => line.push_str(&format!(" iommu_group={g}")),
                None => line.push_str(" no-iommu-group"),
            }
            line.push_str(&format!(" drv={}", name(&d.driver)));
            if let Some(o) = &d.driver_override {
                line.push_str(&format!(" override={o}"));
            }
            for (interface, up) in &d.interfaces {
                line.push_str(&format!(
                    " if={interface}{}",
                    if *up { " *Active*" } else { "" }
                ));
            }
            if !d.disks.is_empty() {
                line.push_str(&format!(" disks={}", d.disks.join(",")));
            }
            println!("{line}");
        }
    }
}
