//! A driver for QEMU's `edu` device (1234:11e8): a model to copy when writing
//! a user-space driver on these crates.
//!
//! ```text
//! edu [ADDR]        # default 0000:00:03.0, where tools/vm/run.sh puts it
//! ```
//!
//! The registers are described once with `register_block!` (QEMU's
//! docs/specs/edu.rst) and reached through the `Registers` trait, so the same
//! driver code runs over the `pread64` path on every target and over a mapping
//! on 64-bit ones. With the device it then:
//!
//! * checks identification and liveness and computes factorials, polling;
//! * enables its interrupt (MSI, INTx when MSI is not offered) through a VFIO
//!   eventfd, computes a factorial with "raise an interrupt when done", waits
//!   for it, reads and acknowledges the interrupt status;
//! * copies a pattern from a DMA buffer into edu's 4 KiB buffer (device
//!   address 0x40000) with edu's DMA engine and back into a second buffer,
//!   each transfer completing with an interrupt, and compares the bytes;
//! * prints the latencies it measured.
//!
//! edu's DMA engine masks addresses to 28 bits unless the device's `dma_mask`
//! property is raised; tools/vm/run.sh sets it to 64 bits, as DPDK's IOVAs lie
//! above 256 MiB.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use dpdk::{register_block, AccessError, DmaBuffer, DmaError, RegionIndex, Registers};
use dpdk::{Eal, Interrupts, IrqError, IrqKind, LogLevel, PciAddress};

/// What `--help` prints.
const HELP: &str = "\
usage: edu [ADDR]    (default 0000:00:03.0, where tools/vm/run.sh puts it)

Drives QEMU's edu device (1234:11e8, bound to vfio-pci): liveness check and
factorials, over pread64 and (64-bit builds) a mapping.";

const EDU_ID: (u16, u16) = (0x1234, 0x11e8);
/// Where edu's DMA buffer is in the device's own address space, and its size.
const EDU_BUFFER: u64 = 0x40000;
const EDU_BUFFER_LEN: usize = 4096;
/// Bytes moved per transfer: QEMU's edu (up to at least 8.x) refuses, with a
/// hardware error that aborts QEMU, any transfer that reaches the buffer's
/// last byte (its range check compares the end exclusively), so not all 4096.
const DMA_LEN: usize = 4000;
const LIMIT: Duration = Duration::from_secs(5);

register_block! {
    /// edu's BAR0.
    pub struct EduRegs, fields edu, size 0x100;
    /// Identification: 0xRRrr00ed.
    0x00 id: u32, ro { magic: 0..=7, minor: 16..=23, major: 24..=31 };
    /// Liveness check: reads back the complement of what was written.
    0x04 liveness: u32, rw;
    /// Factorial: write n, read n! once `status.computing` clears.
    0x08 factorial: u32, rw;
    /// Status.
    0x20 status: u32, rw { computing: 0..=0, irq_when_done: 7..=7 };
    /// Interrupt status: why the interrupt is raised.
    0x24 irq_status: u32, ro { factorial: 0..=0, dma: 8..=8 };
    /// Raises the interrupt with these status bits.
    0x60 irq_raise: u32, wo;
    /// Acknowledges these interrupt status bits (lowers the interrupt when none is left).
    0x64 irq_ack: u32, wo;
    /// DMA source address.
    0x80 dma_src: u64, rw;
    /// DMA destination address.
    0x88 dma_dst: u64, rw;
    /// DMA byte count.
    0x90 dma_count: u64, rw;
    /// DMA command.
    0x98 dma_cmd: u64, rw { start: 0..=0, to_ram: 1..=1, irq: 2..=2 };
}

/// What can go wrong talking to the device.
#[derive(Debug, thiserror::Error)]
enum EduError {
    #[error("register access: {0}")]
    Access(#[from] AccessError),
    #[error("register block: {0}")]
    Block(#[from] dpdk::BlockError),
    #[error("interrupts: {0}")]
    Irq(#[from] IrqError),
    #[error("bus mastering: {0}")]
    BusMaster(#[from] dpdk::BusMasterError),
    #[error("DMA memory: {0}")]
    Dma(#[from] DmaError),
    #[error("not an edu device: identification register reads {0:#010x}")]
    NotEdu(u32),
    #[error("the device did not {0} within {LIMIT:?}")]
    Timeout(&'static str),
}

/// The edu device behind any register accessor.
struct Edu<'r, R: Registers> {
    regs: EduRegs<'r, R>,
}

impl<'r, R: Registers> Edu<'r, R> {
    /// Checks the identification register's magic byte.
    fn new(bar: &'r R, bar_len: u64) -> Result<Self, EduError> {
        let regs = EduRegs::new(bar, bar_len)?;
        let id = regs.id().read()?;
        if edu::id::magic::get(id) != 0xed {
            return Err(EduError::NotEdu(id));
        }
        Ok(Edu { regs })
    }

    /// Hardware version as (major, minor).
    fn version(&self) -> Result<(u64, u64), EduError> {
        let id = self.regs.id().read()?;
        Ok((edu::id::major::get(id), edu::id::minor::get(id)))
    }

    /// Proves the device is alive: it returns the complement of `value`.
    fn check_liveness(&self, value: u32) -> Result<bool, EduError> {
        self.regs.liveness().write(value)?;
        Ok(self.regs.liveness().read()? == !value)
    }

    /// Computes `n!` in the device, polling the busy bit.
    fn factorial(&self, n: u32) -> Result<u32, EduError> {
        self.regs.status().write(0)?;
        self.regs.factorial().write(n)?;
        let start = Instant::now();
        while edu::status::computing::is_set(self.regs.status().read()?) {
            if start.elapsed() > LIMIT {
                return Err(EduError::Timeout("finish the factorial"));
            }
            std::hint::spin_loop();
        }
        Ok(self.regs.factorial().read()?)
    }

    /// Waits for the interrupt, checks and acknowledges the status bits
    /// `expect`; returns the time from `start` to the wake-up.
    fn await_irq(
        &self,
        irqs: &mut Interrupts<'_>,
        expect: u32,
        start: Instant,
    ) -> Result<Duration, EduError> {
        if irqs.wait(0, Some(LIMIT))? == 0 {
            return Err(EduError::Timeout("raise its interrupt"));
        }
        let latency = start.elapsed();
        let status = self.regs.irq_status().read()?;
        if status & expect != expect {
            println!("interrupt status {status:#x}, expected bits {expect:#x}: WRONG");
        }
        self.regs.irq_ack().write(status)?;
        if irqs.automasked() {
            irqs.unmask(0)?;
        }
        Ok(latency)
    }

    /// `n!` computed with "interrupt when done".
    fn factorial_irq(
        &self,
        irqs: &mut Interrupts<'_>,
        n: u32,
    ) -> Result<(u32, Duration), EduError> {
        self.regs
            .status()
            .write(edu::status::irq_when_done::value_const::<1>())?;
        let start = Instant::now();
        self.regs.factorial().write(n)?;
        let latency =
            self.await_irq(irqs, edu::irq_status::factorial::value_const::<1>(), start)?;
        self.regs.status().write(0)?;
        Ok((self.regs.factorial().read()?, latency))
    }

    /// One DMA transfer of `len` bytes, completing with an interrupt.
    fn dma(
        &self,
        irqs: &mut Interrupts<'_>,
        src: u64,
        dst: u64,
        len: usize,
        to_ram: bool,
    ) -> Result<Duration, EduError> {
        self.regs.dma_src().write(src)?;
        self.regs.dma_dst().write(dst)?;
        self.regs.dma_count().write(len as u64)?;
        let mut cmd = edu::dma_cmd::start::value_const::<1>();
        cmd = edu::dma_cmd::irq::with_const::<1>(cmd);
        if to_ram {
            cmd = edu::dma_cmd::to_ram::with_const::<1>(cmd);
        }
        let start = Instant::now();
        self.regs.dma_cmd().write(cmd)?;
        let latency = self.await_irq(irqs, edu::irq_status::dma::value_const::<1>(), start)?;
        if edu::dma_cmd::start::is_set(self.regs.dma_cmd().read()?) {
            return Err(EduError::Timeout("finish the DMA"));
        }
        Ok(latency)
    }
}

fn drive<R: Registers>(path: &str, bar: &R, bar_len: u64) -> Result<(), EduError> {
    let edu = Edu::new(bar, bar_len)?;
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

/// Interrupts and DMA, over `bar`.
fn interrupts_and_dma<R: Registers>(
    eal: &Eal,
    vfio: &dpdk::VfioDevice<'_>,
    bar: &R,
    bar_len: u64,
) -> Result<(), EduError> {
    let edu = Edu::new(bar, bar_len)?;
    let kind = if vfio.irq_count(IrqKind::Msi)? > 0 {
        IrqKind::Msi
    } else {
        IrqKind::Intx
    };
    // DMA and MSI messages are memory writes: the device needs bus mastering.
    vfio.set_bus_master(true)?;
    let mut irqs = vfio.enable_interrupts(kind, 1)?;
    println!(
        "interrupts: {kind}, {} vector of {}",
        irqs.count(),
        irqs.available()
    );

    let mut latencies = Vec::new();
    for n in [5, 10, 12] {
        let (value, latency) = edu.factorial_irq(&mut irqs, n)?;
        println!("irq: {n}! = {value}");
        latencies.push(latency);
    }
    let (best, worst) = (
        latencies.iter().min().unwrap(),
        latencies.iter().max().unwrap(),
    );
    println!(
        "factorial interrupt latency: min {best:?}, max {worst:?} over {}",
        latencies.len()
    );

    let out = DmaBuffer::new(eal, EDU_BUFFER_LEN, 4096)?;
    let back = DmaBuffer::new(eal, EDU_BUFFER_LEN, 4096)?;
    let pattern: Vec<u8> = (0..DMA_LEN)
        .map(|i| (i as u8).wrapping_mul(7) ^ 0x5a)
        .collect();
    out.copy_from_slice(0, &pattern)?;
    println!(
        "dma: buffers at IOVA {:#x} and {:#x}",
        out.iova(),
        back.iova()
    );
    let to_device = edu.dma(&mut irqs, out.iova(), EDU_BUFFER, DMA_LEN, false)?;
    let to_ram = edu.dma(&mut irqs, EDU_BUFFER, back.iova(), DMA_LEN, true)?;
    let same = back.to_vec()[..DMA_LEN] == pattern[..];
    println!(
        "dma: {DMA_LEN} bytes to edu and back: {}",
        if same { "identical" } else { "WRONG" }
    );
    println!("dma completion latency: to device {to_device:?}, to RAM {to_ram:?} (edu's DMA timer is 100 ms)");

    // The device is idle (both transfers completed): the buffers may go.
    drop(irqs);
    drop(out);
    drop(back);
    Ok(())
}

const USAGE: &str = "usage: edu [ADDR]";

/// The device to drive; `None` when the command line asks for `--help`.
fn parse_args(
    args: impl IntoIterator<Item = std::ffi::OsString>,
) -> Result<Option<PciAddress>, lexopt::Error> {
    use lexopt::prelude::*;
    let mut address = None;
    let mut parser = lexopt::Parser::from_args(args);
    while let Some(arg) = parser.next()? {
        match arg {
            Short('h') | Long("help") => return Ok(None),
            Value(v) if address.is_none() => address = Some(v.parse()?),
            _ => return Err(arg.unexpected()),
        }
    }
    Ok(Some(address.unwrap_or(PciAddress::new(0, 0, 3, 0))))
}

fn run(address: PciAddress) -> Result<(), Box<dyn std::error::Error>> {
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
    let len = vfio.region_info(RegionIndex::BAR0)?.size;
    let pread = vfio.region(RegionIndex::BAR0)?;
    drive("pread64", &pread, len)?;
    #[cfg(target_pointer_width = "64")]
    {
        let mapped = vfio.map_bar(RegionIndex::BAR0)?;
        drive("mmap64", &mapped, len)?;
        interrupts_and_dma(&eal, &vfio, &mapped, len)?;
    }
    #[cfg(not(target_pointer_width = "64"))]
    interrupts_and_dma(&eal, &vfio, &pread, len)?;
    Ok(())
}

fn main() -> ExitCode {
    let address = match parse_args(std::env::args_os().skip(1)) {
        Ok(Some(address)) => address,
        Ok(None) => {
            println!("{HELP}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("edu: {e}\n{USAGE}\n(edu --help says more)");
            return ExitCode::from(2);
        }
    };
    match run(address) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("edu: {e}");
            ExitCode::FAILURE
        }
    }
}
