//! Peek and poke a PCI device's registers through VFIO.
//!
//! ```text
//! bar read  ADDR BAR OFFSET       [--width 8|16|32|64] [--mmap]
//! bar write ADDR BAR OFFSET VALUE [--width 8|16|32|64] [--mmap]
//! ```
//!
//! BAR is 0-5, `rom` or `config`; OFFSET and VALUE take decimal or 0x-hex.
//! Accesses go through `pread64`/`pwrite64`; `--mmap` maps the BAR instead
//! (64-bit targets only). The device must be bound to vfio-pci.

use std::process::ExitCode;

use dpdk::PciAddress;
use dpdk::{Eal, LogLevel};
use dpdk::{RegionIndex, Registers};

/// What `--help` prints.
const HELP: &str = "\
usage: bar read  ADDR BAR OFFSET       [--width 8|16|32|64] [--mmap]
       bar write ADDR BAR OFFSET VALUE [--width 8|16|32|64] [--mmap]

Reads or writes one register of a device bound to vfio-pci. BAR is 0-5, rom
or config; OFFSET and VALUE take decimal or 0x-hex. --mmap maps the BAR
instead of pread64/pwrite64 (64-bit builds only).";

const USAGE: &str = "usage: bar read|write ADDR BAR OFFSET [VALUE] [--width 8|16|32|64] [--mmap]";

#[derive(Debug)]
struct Command {
    write: Option<u64>,
    address: PciAddress,
    region: RegionIndex,
    offset: u64,
    width: u32,
    mmap: bool,
}

fn number(text: &str, what: &str) -> Result<u64, String> {
    let parsed = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => text.parse(),
    };
    parsed.map_err(|_| format!("{what} {text:?} is not a number"))
}

/// `None` when the command line asks for `--help`.
fn parse(
    args: impl IntoIterator<Item = std::ffi::OsString>,
) -> Result<Option<Command>, lexopt::Error> {
    use lexopt::prelude::*;
    let mut width = 32;
    let mut mmap = false;
    let mut positional = Vec::new();
    let mut parser = lexopt::Parser::from_args(args);
    while let Some(arg) = parser.next()? {
        match arg {
            Short('h') | Long("help") => return Ok(None),
            Long("width") => {
                width = match parser.value()?.string()?.as_str() {
                    "8" => 8,
                    "16" => 16,
                    "32" => 32,
                    "64" => 64,
                    other => return Err(format!("width {other:?} is not 8, 16, 32 or 64").into()),
                };
            }
            Long("mmap") => mmap = true,
            Value(v) => positional.push(v.string()?),
            _ => return Err(arg.unexpected()),
        }
    }
    let (op, rest) = positional.split_first().ok_or("say read or write")?;
    let expected = match op.as_str() {
        "read" => 3,
        "write" => 4,
        other => return Err(format!("unknown operation {other:?}").into()),
    };
    if rest.len() != expected {
        return Err(format!("{op} takes {expected} operands, got {}", rest.len()).into());
    }
    let region = match rest[1].as_str() {
        "rom" => RegionIndex::Rom,
        "config" => RegionIndex::Config,
        n => RegionIndex::bar(number(n, "BAR")?.try_into().unwrap_or(u32::MAX))
            .map_err(|e| e.to_string())?,
    };
    let write = if expected == 4 {
        Some(number(&rest[3], "value")?)
    } else {
        None
    };
    if let Some(v) = write {
        if width < 64 && v >> width != 0 {
            return Err(format!("value {v:#x} does not fit {width} bits").into());
        }
    }
    Ok(Some(Command {
        write,
        address: rest[0].parse().map_err(|e| format!("{e}"))?,
        region,
        offset: number(&rest[2], "offset")?,
        width,
        mmap,
    }))
}

/// Performs the access; returns the value read (or written).
fn access<R: Registers>(regs: &R, cmd: &Command) -> Result<u64, dpdk::AccessError> {
    let (o, w) = (cmd.offset, cmd.write);
    Ok(match (cmd.width, w) {
        (8, None) => regs.read8(o)?.into(),
        (16, None) => regs.read16(o)?.into(),
        (32, None) => regs.read32(o)?.into(),
        (_, None) => regs.read64(o)?,
        (8, Some(v)) => regs.write8(o, v as u8).map(|_| v)?,
        (16, Some(v)) => regs.write16(o, v as u16).map(|_| v)?,
        (32, Some(v)) => regs.write32(o, v as u32).map(|_| v)?,
        (_, Some(v)) => regs.write64(o, v).map(|_| v)?,
    })
}

fn run(cmd: Command) -> Result<(), Box<dyn std::error::Error>> {
    let eal = Eal::builder()
        .no_huge(64 << 20)
        .no_shconf()
        .allow(cmd.address)
        .log_level(LogLevel::Error)
        .init()?;
    let device = eal.vfio_open(cmd.address)?;
    let value = if cmd.mmap {
        #[cfg(target_pointer_width = "64")]
        {
            access(&device.map_bar(cmd.region)?, &cmd)?
        }
        #[cfg(not(target_pointer_width = "64"))]
        return Err(
            "--mmap needs a 64-bit build: a 32-bit process cannot map every BAR; drop --mmap"
                .into(),
        );
    } else {
        access(&device.region(cmd.region)?, &cmd)?
    };
    let digits = cmd.width as usize / 4;
    let verb = if cmd.write.is_some() { "wrote" } else { "read" };
    println!(
        "{} {} +{:#x}: {verb} {value:#0w$x}",
        cmd.address,
        cmd.region,
        cmd.offset,
        w = digits + 2
    );
    Ok(())
}

fn main() -> ExitCode {
    let cmd = match parse(std::env::args_os().skip(1)) {
        Ok(Some(cmd)) => cmd,
        Ok(None) => {
            println!("{HELP}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("bar: {e}\n{USAGE}\n(bar --help says more)");
            return ExitCode::from(2);
        }
    };
    match run(cmd) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bar: {e}");
            ExitCode::FAILURE
        }
    }
}
