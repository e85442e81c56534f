//! A small driver for QEMU's `edu` device (1234:11e8): a model to copy when
//! writing a user-space driver on these crates.
//!
//! ```text
//! edu [ADDR]        # default 0000:00:03.0, where tools/vm/run.sh puts it
//! ```
//!
//! The driver talks to its registers through the `Registers` trait, so the same
//! code runs over the `pread64` path on every target and over a mapping on
//! 64-bit ones. Register map (QEMU's docs/specs/edu.rst): 0x00 identification,
//! 0x04 liveness check (reads back the complement), 0x08 factorial, 0x20 status
//! (bit 0: factorial busy).

use std::process::ExitCode;
use std::time::{Duration, Instant};

use dpdk::PciAddress;
use dpdk::{AccessError, RegionIndex, Registers};
use dpdk::{Eal, LogLevel};

/// What `--help` prints.
const HELP: &str = "\
usage: edu [ADDR]    (default 0000:00:03.0, where tools/vm/run.sh puts it)

Drives QEMU's edu device (1234:11e8, bound to vfio-pci): liveness check and
factorials, over pread64 and (64-bit builds) a mapping.";

const EDU_ID: (u16, u16) = (0x1234, 0x11e8);
const REG_ID: u64 = 0x00;
const REG_LIVENESS: u64 = 0x04;
const REG_FACTORIAL: u64 = 0x08;
const REG_STATUS: u64 = 0x20;
const STATUS_BUSY: u32 = 1;

/// What can go wrong talking to the device.
#[derive(Debug, thiserror::Error)]
enum EduError {
    #[error("register access: {0}")]
    Access(#[from] AccessError),
    #[error("not an edu device: identification register reads {0:#010x}")]
    NotEdu(u32),
    #[error("the device did not finish the factorial within {0:?}")]
    Timeout(Duration),
}

/// The edu device behind any register accessor.
struct Edu<R: Registers> {
    regs: R,
}

impl<R: Registers> Edu<R> {
    /// Checks the identification register (0xRRrr00ed: major, minor, 0xed).
    fn new(regs: R) -> Result<Self, EduError> {
        let id = regs.read32(REG_ID)?;
        if id & 0xff != 0xed {
            return Err(EduError::NotEdu(id));
        }
        Ok(Edu { regs })
    }

    /// Hardware version as (major, minor).
    fn version(&self) -> Result<(u8, u8), EduError> {
        let id = self.regs.read32(REG_ID)?;
        Ok(((id >> 24) as u8, (id >> 16) as u8))
    }

    /// Proves the device is alive: it returns the complement of `value`.
    fn check_liveness(&self, value: u32) -> Result<bool, EduError> {
        self.regs.write32(REG_LIVENESS, value)?;
        Ok(self.regs.read32(REG_LIVENESS)? == !value)
    }

    /// Computes `n!` in the device, polling the busy bit.
    fn factorial(&self, n: u32) -> Result<u32, EduError> {
        const LIMIT: Duration = Duration::from_secs(5);
        self.regs.write32(REG_FACTORIAL, n)?;
        let start = Instant::now();
        while self.regs.read32(REG_STATUS)? & STATUS_BUSY != 0 {
            if start.elapsed() > LIMIT {
                return Err(EduError::Timeout(LIMIT));
            }
            std::hint::spin_loop();
        }
        Ok(self.regs.read32(REG_FACTORIAL)?)
    }
}

fn drive<R: Registers>(path: &str, regs: R) -> Result<(), EduError> {
    let edu = Edu::new(regs)?;
    let (major, minor) = edu.version()?;
    println!("{path}: edu version {major}.{minor}");
    println!(
        "{path}: liveness check: {}",
        if edu.check_liveness(0x5555_aaaa)? {
            "alive"
        } else {
            "WRONG"
        }
    );
    for n in [0, 5, 10, 12] {
        println!("{path}: {n}! = {}", edu.factorial(n)?);
    }
    Ok(())
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let address: PciAddress = std::env::args()
        .nth(1)
        .as_deref()
        .unwrap_or("0000:00:03.0")
        .parse()?;
    let eal = Eal::builder()
        .no_huge(64 << 20)
        .no_shconf()
        .allow(address)
        .log_level(LogLevel::Error)
        .init()?;
    let device = eal.pci_device(address)?;
    if (device.ids.vendor, device.ids.device) != EDU_ID {
        return Err(format!(
            "{address} is {:04x}:{:04x}, not edu",
            device.ids.vendor, device.ids.device
        )
        .into());
    }
    let vfio = eal.vfio_open(address)?;
    drive("pread64", vfio.region(RegionIndex::BAR0)?)?;
    #[cfg(target_pointer_width = "64")]
    drive("mmap64", vfio.map_bar(RegionIndex::BAR0)?)?;
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
            eprintln!("edu: {e}");
            ExitCode::FAILURE
        }
    }
}
