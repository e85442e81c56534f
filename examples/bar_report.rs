//! Probes PCI devices bound to vfio-pci and reads and writes their BARs,
//! printing a report: what DPDK's bus says, what VFIO says about each region,
//! and what the registers answer.
//!
//! ```text
//! bar_report [ADDR...]    # default: the devices of tools/vm/run.sh's VM
//! ```
//!
//! QEMU's edu, ivshmem and e1000e devices get a device-specific check; any other
//! device gets a read of its config header and of the first register of each BAR.

use std::process::ExitCode;

use dpdk::{
    BarIndex, ConfigRegisters, Eal, LogLevel, PciAddress, PciDevice, RegionIndex, Registers,
    VfioDevice,
};

/// What `--help` prints.
const HELP: &str = "\
usage: bar_report [ADDR...]

Probes the devices (default: the test VM's edu, ivshmem and e1000e, which must
be bound to vfio-pci) and reports what DPDK and VFIO say and what their
registers answer.";

/// Where tools/vm/run.sh puts QEMU's edu, ivshmem-plain and e1000e.
const VM_DEVICES: [&str; 3] = ["0000:00:03.0", "0000:00:04.0", "0000:00:05.0"];

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

const USAGE: &str = "usage: bar_report [ADDR...]";

/// The devices to report on; `None` when the command line asks for `--help`.
fn parse_args(
    args: impl IntoIterator<Item = std::ffi::OsString>,
) -> std::result::Result<Option<Vec<PciAddress>>, lexopt::Error> {
    use lexopt::prelude::*;
    let mut addresses = Vec::new();
    let mut parser = lexopt::Parser::from_args(args);
    while let Some(arg) = parser.next()? {
        match arg {
            Short('h') | Long("help") => return Ok(None),
            Value(v) => addresses.push(v.parse()?),
            _ => return Err(arg.unexpected()),
        }
    }
    if addresses.is_empty() {
        addresses = VM_DEVICES
            .iter()
            .map(|a| a.parse().expect("a valid address"))
            .collect();
    }
    Ok(Some(addresses))
}

fn main() -> ExitCode {
    let addresses = match parse_args(std::env::args_os().skip(1)) {
        Ok(Some(addresses)) => addresses,
        Ok(None) => {
            println!("{HELP}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("bar_report: {e}\n{USAGE}\n(bar_report --help says more)");
            return ExitCode::from(2);
        }
    };
    match run(addresses) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bar_report: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(addresses: Vec<PciAddress>) -> Result<()> {
    let mut builder = Eal::builder()
        .no_huge(64 << 20)
        .no_shconf()
        .log_level(LogLevel::Error);
    for a in &addresses {
        builder = builder.allow(*a);
    }
    let eal = builder.init()?;
    println!(
        "{} on {}-bit x86, {} lcore(s)",
        eal.version(),
        usize::BITS,
        eal.lcore_count()
    );
    // One device's failure is reported under its address; the others go on.
    let mut failed = Vec::new();
    for address in addresses {
        println!("\n== {address}");
        if let Err(e) = report(&eal, address) {
            println!("   FAILED: {address}: {e}");
            failed.push(address.to_string());
        }
    }
    if !failed.is_empty() {
        return Err(format!("{} device(s) failed: {}", failed.len(), failed.join(", ")).into());
    }
    println!("\nall devices answered as expected");
    Ok(())
}

fn report(eal: &Eal, address: PciAddress) -> Result<()> {
    let pci = eal.pci_device(address)?;
    describe(&pci);
    let dev = eal.vfio_open(address)?;
    println!(
        "   VFIO: {} regions, {} IRQ types, IOMMU group {}",
        dev.num_regions(),
        dev.num_irqs(),
        dev.iommu_group()
    );
    println!(
        "   {:<12} {:>14} {:>10}  flags  caps",
        "region", "fd offset", "size"
    );
    let regions = BarIndex::ALL
        .map(RegionIndex::Bar)
        .into_iter()
        .chain([RegionIndex::Rom, RegionIndex::Config]);
    for index in regions {
        let info = dev.region_info(index)?;
        if info.size == 0 {
            continue;
        }
        let f = info.flags;
        let flags = format!(
            "{}{}{}",
            if f.readable { 'r' } else { '-' },
            if f.writable { 'w' } else { '-' },
            if f.mmap { 'm' } else { '-' }
        );
        let mut caps = Vec::new();
        if let Some(areas) = &info.sparse_mmap {
            caps.push(format!("sparse {areas:x?}"));
        }
        if info.msix_mappable {
            caps.push("msix-mappable".to_owned());
        }
        println!(
            "   {:<12} {:#14x} {:>10}  {flags:<5}  {}",
            index.to_string(),
            info.offset,
            info.size,
            caps.join(" ")
        );
    }
    match (pci.ids.vendor, pci.ids.device) {
        (0x1234, 0x11e8) => edu(&dev),
        (0x1af4, 0x1110) => ivshmem(&dev),
        (0x8086, 0x10d3) => e1000e(&dev),
        _ => generic(&dev, &pci),
    }
}

fn describe(pci: &PciDevice) {
    println!(
        "   {:04x}:{:04x} class {:06x}, kernel driver {}, DPDK driver {}",
        pci.ids.vendor,
        pci.ids.device,
        pci.class,
        pci.kernel_driver_name(),
        pci.dpdk_driver.as_deref().unwrap_or("none")
    );
}

/// Binds `$bar` to the access path this build uses for BARs: a mapping on
/// 64-bit targets, `pread64`/`pwrite64` on 32-bit ones (no mapping API there).
macro_rules! with_bar {
    ($dev:expr, $index:expr, |$bar:ident| $body:expr) => {{
        #[cfg(target_pointer_width = "64")]
        let $bar = {
            let bar = $dev.map_bar($index)?;
            println!(
                "   {} through mmap64, mapped {:x?}",
                $index,
                bar.mapped_ranges()
            );
            bar
        };
        #[cfg(not(target_pointer_width = "64"))]
        let $bar = {
            println!(
                "   {} through pread64/pwrite64 (32-bit build: no mapping API)",
                $index
            );
            $dev.region($index)?
        };
        $body
    }};
}

fn check(what: &str, ok: bool) -> Result<()> {
    println!("   {what}: {}", if ok { "ok" } else { "WRONG" });
    if ok {
        Ok(())
    } else {
        Err(format!("{what} failed").into())
    }
}

fn edu(dev: &VfioDevice<'_>) -> Result<()> {
    with_bar!(dev, RegionIndex::BAR0, |bar| edu_registers(&bar))
}

fn edu_registers(bar: &impl Registers) -> Result<()> {
    let id = bar.read32(0x00)?;
    check(
        &format!("ID register {id:#010x} (expect 0x010000ed)"),
        id == 0x010000ed,
    )?;
    bar.write32(0x04, 0x1234_5678)?;
    let live = bar.read32(0x04)?;
    check(
        &format!("liveness: wrote 0x12345678, read {live:#010x}"),
        live == !0x1234_5678,
    )?;
    bar.write32(0x08, 12)?;
    while bar.read32(0x20)? & 1 != 0 {}
    let fact = bar.read32(0x08)?;
    check(&format!("factorial: 12! = {fact}"), fact == 479_001_600)
}

fn ivshmem(dev: &VfioDevice<'_>) -> Result<()> {
    // BAR2 is the shared file: read what the host wrote, write a note back.
    let shared = dev.region(RegionIndex::BAR2)?;
    let mut head = [0u8; 32];
    shared.read_bytes(0, &mut head)?;
    let text: String = head
        .iter()
        .take_while(|b| **b != 0)
        .map(|b| *b as char)
        .collect();
    println!("   BAR2 (the host's file) starts with {text:?}");
    let version = dpdk::build_info::DPDK_VERSION;
    let note = format!("{}-bit guest, DPDK {version}", usize::BITS);
    // One slot per build, so the host sees each build's note.
    let at = match (usize::BITS, version.starts_with("22.")) {
        (64, true) => 0x1000,
        (64, false) => 0x3000,
        _ => 0x2000,
    };
    shared.write_bytes(at, note.as_bytes())?;
    println!("   wrote {note:?} at BAR2+{at:#x}");
    with_bar!(dev, RegionIndex::BAR2, |bar| {
        let word = bar.read32(at)?;
        check("BAR2 read back", word.to_le_bytes() == note.as_bytes()[..4])
    })
}

fn e1000e(dev: &VfioDevice<'_>) -> Result<()> {
    if let Some(table) = dev.msix_table()? {
        println!(
            "   MSI-X: {} vectors, table in BAR{} at {:#x}..{:#x}",
            table.entries, table.bir, table.range.start, table.range.end
        );
    }
    with_bar!(dev, RegionIndex::BAR0, |bar| {
        let read = |o| bar.read32(o);
        // STATUS (0x08) and the EEPROM-less MAC from RAL/RAH (0x5400/0x5404).
        let status = read(0x08)?;
        let (ral, rah) = (read(0x5400)?, read(0x5404)?);
        let mac: Vec<String> = ral
            .to_le_bytes()
            .iter()
            .chain(&rah.to_le_bytes()[..2])
            .map(|b| format!("{b:02x}"))
            .collect();
        println!(
            "   STATUS {status:#010x}, receive address {}",
            mac.join(":")
        );
        check(
            "QEMU's default MAC prefix 52:54:00",
            mac[..3] == ["52", "54", "00"],
        )
    })
}

fn generic(dev: &VfioDevice<'_>, pci: &PciDevice) -> Result<()> {
    let config = dev.config()?;
    println!(
        "   config: vendor {:#06x} device {:#06x} command {:#06x}",
        config.read16(0)?,
        config.read16(2)?,
        config.read16(4)?
    );
    for bar in pci.bars.iter().flatten() {
        let index = bar.region;
        let value = dev.region(index)?.read32(0)?;
        println!("   {index}: first register {value:#010x}");
    }
    Ok(())
}
