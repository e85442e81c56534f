//! A minimal NVMe driver (QEMU's `-device nvme`, 1b36:0010), written with the
//! toolkit: typed registers, DMA buffers, MSI-X through VFIO eventfds.
//!
//! ```text
//! nvme [ADDR] [--write-lba N]   # default 0000:00:06.0, LBA 100
//! nvme make-image PATH MIB       # host side: a raw image with the pattern
//! nvme check-image PATH LBA...   # host side: the blocks the driver wrote
//! ```
//!
//! It disables and re-enables the controller, puts the admin queues in DMA
//! memory, identifies the controller and namespace 1 (model, serial,
//! firmware, size, LBA format), creates one I/O queue pair whose completions
//! raise MSI-X vector 1 (polling when MSI-X cannot be had: it says so), reads
//! the first 8 LBAs and checks each against the pattern the test wrote into
//! the image ("LBA <n>" then bytes `(n + i) % 251`), writes LBA N with a
//! pattern of its own and flushes.
//!
//! Register map: the NVMe base specification, section 3.1 ("Controller
//! Registers"); commands: section 5 (admin) and the NVM command set.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use dpdk::{register_block, DmaBuffer, Eal, Interrupts, IrqKind, LogLevel, PciAddress};
use dpdk::{RegionIndex, Registers, ResetError};

type Error = Box<dyn std::error::Error>;

register_block! {
    /// The controller registers in BAR0 (doorbells follow at 0x1000).
    pub struct NvmeRegs, fields nvme, size 0x1000;
    /// Controller capabilities.
    0x00 cap: u64, ro { mqes: 0..=15, to: 24..=31, dstrd: 32..=35, css: 37..=44, mpsmin: 48..=51, mpsmax: 52..=55 };
    /// Version.
    0x08 vs: u32, ro { ter: 0..=7, mnr: 8..=15, mjr: 16..=31 };
    /// Interrupt mask set (pin and MSI only).
    0x0c intms: u32, wo;
    /// Interrupt mask clear.
    0x10 intmc: u32, wo;
    /// Controller configuration.
    0x14 cc: u32, rw { en: 0..=0, css: 4..=6, mps: 7..=10, ams: 11..=13, shn: 14..=15, iosqes: 16..=19, iocqes: 20..=23 };
    /// Controller status.
    0x1c csts: u32, ro { rdy: 0..=0, cfs: 1..=1, shst: 2..=3 };
    /// Admin queue attributes (sizes minus one).
    0x24 aqa: u32, rw { asqs: 0..=11, acqs: 16..=27 };
    /// Admin submission queue base.
    0x28 asq: u64, rw;
    /// Admin completion queue base.
    0x30 acq: u64, rw;
}

const DEPTH: u16 = 16;
const SQE: usize = 64;
const CQE: usize = 16;
const PATTERN_BLOCKS: u64 = 8;

/// One submission/completion queue pair in DMA memory.
struct Queue<'eal> {
    id: u16,
    sq: DmaBuffer<'eal>,
    cq: DmaBuffer<'eal>,
    tail: u16,
    head: u16,
    phase: bool,
    next_cid: u16,
    /// MSI-X vector of the completion queue, when interrupts are used.
    vector: Option<u32>,
}

/// A completion: command-specific result and status.
#[derive(Debug)]
struct Completion {
    result: u32,
    status: u16,
}

struct Controller<'a, 'eal, R: Registers> {
    bar: &'a R,
    regs: NvmeRegs<'a, R>,
    stride: u64,
    timeout: Duration,
    irqs: Option<Interrupts<'a>>,
    /// Signals seen on each MSI-X vector.
    signals: [u64; 2],
    eal: &'eal Eal,
}

impl<'a, 'eal, R: Registers> Controller<'a, 'eal, R> {
    fn doorbell(&self, qid: u16, completion: bool, value: u16) -> Result<(), Error> {
        let index = 2 * u64::from(qid) + u64::from(completion);
        self.bar
            .write32(0x1000 + index * self.stride, u32::from(value))?;
        Ok(())
    }

    fn wait_ready(&self, ready: bool) -> Result<(), Error> {
        let start = Instant::now();
        loop {
            let csts = self.regs.csts().read()?;
            if nvme::csts::cfs::is_set(csts) {
                return Err("controller fatal status (CSTS.CFS)".into());
            }
            if nvme::csts::rdy::is_set(csts) == ready {
                return Ok(());
            }
            if start.elapsed() > self.timeout {
                return Err(format!(
                    "CSTS.RDY did not become {} within {:?}",
                    ready as u8, self.timeout
                )
                .into());
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    fn new_queue(&self, id: u16, vector: Option<u32>) -> Result<Queue<'eal>, Error> {
        Ok(Queue {
            id,
            sq: DmaBuffer::new(self.eal, SQE * DEPTH as usize, 4096)?,
            cq: DmaBuffer::new(self.eal, CQE * DEPTH as usize, 4096)?,
            tail: 0,
            head: 0,
            phase: true,
            next_cid: 0,
            vector,
        })
    }

    /// Submits `cmd` (16 dwords; the command id is filled in) on `q` and
    /// waits for its completion: on the queue's MSI-X vector, or polling.
    fn submit(&mut self, q: &mut Queue<'eal>, mut cmd: [u32; 16]) -> Result<Completion, Error> {
        let cid = q.next_cid;
        q.next_cid = q.next_cid.wrapping_add(1);
        cmd[0] |= u32::from(cid) << 16;
        let slot = q.tail as usize * SQE;
        for (i, dw) in cmd.iter().enumerate() {
            q.sq.write::<u32>(slot + 4 * i, *dw)?;
        }
        q.tail = (q.tail + 1) % DEPTH;
        // The entry is in memory before the doorbell's MMIO write (x86 keeps
        // stores in order; the fence keeps the compiler from moving them).
        std::sync::atomic::fence(std::sync::atomic::Ordering::Release);
        self.doorbell(q.id, false, q.tail)?;

        let entry = q.head as usize * CQE;
        let start = Instant::now();
        loop {
            let dw3 = q.cq.read::<u32>(entry + 12)?;
            if (dw3 >> 16) & 1 == u32::from(q.phase) {
                std::sync::atomic::fence(std::sync::atomic::Ordering::Acquire);
                let result = q.cq.read::<u32>(entry)?;
                let got_cid = (dw3 & 0xffff) as u16;
                let status = (dw3 >> 17) as u16;
                q.head = (q.head + 1) % DEPTH;
                if q.head == 0 {
                    q.phase = !q.phase;
                }
                self.doorbell(q.id, true, q.head)?;
                if got_cid != cid {
                    return Err(format!("completion for command {got_cid}, expected {cid}").into());
                }
                return Ok(Completion { result, status });
            }
            if start.elapsed() > self.timeout {
                return Err(
                    format!("no completion on queue {} within {:?}", q.id, self.timeout).into(),
                );
            }
            match (q.vector, self.irqs.as_ref()) {
                (Some(v), Some(irqs)) => {
                    self.signals[v as usize] += irqs.wait(v, Some(Duration::from_millis(100)))?;
                }
                _ => std::hint::spin_loop(),
            }
        }
    }

    fn admin_ok(
        &mut self,
        admin: &mut Queue<'eal>,
        cmd: [u32; 16],
        what: &str,
    ) -> Result<u32, Error> {
        let c = self.submit(admin, cmd)?;
        if c.status != 0 {
            return Err(format!("{what}: status {:#x}", c.status).into());
        }
        Ok(c.result)
    }
}

fn prp(cmd: &mut [u32; 16], iova: u64) {
    cmd[6] = iova as u32;
    cmd[7] = (iova >> 32) as u32;
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).trim_end().to_owned()
}

/// The pattern the test writes into block `n` of the image.
fn expected_block(n: u64, len: usize) -> Vec<u8> {
    let mut block: Vec<u8> = (0..len).map(|i| ((n as usize + i) % 251) as u8).collect();
    let head = format!("LBA {n}");
    block[..head.len()].copy_from_slice(head.as_bytes());
    block
}

/// The block this example writes at `lba`.
fn written_block(lba: u64, len: usize) -> Vec<u8> {
    let mut mine = vec![0u8; len];
    let text = format!("written by the dpdk-rs nvme example to LBA {lba}");
    mine[..text.len()].copy_from_slice(text.as_bytes());
    for (i, b) in mine.iter_mut().enumerate().skip(text.len()) {
        *b = (i % 7) as u8 + b'a';
    }
    mine
}

/// What `--help` prints after the usage.
const ABOUT: &str = "\
Drives QEMU's NVMe controller at ADDR (default 0000:00:06.0, bound to
vfio-pci): identifies it, reads the first LBAs and checks the pattern
make-image wrote, writes LBA N (default 100) and flushes. make-image and
check-image run on the host, on the image file QEMU serves.";

const USAGE: &str = "\
usage: nvme [ADDR] [--write-lba N]
       nvme make-image PATH MIB
       nvme check-image PATH LBA...";

/// What the command line asks for.
enum Command {
    Help,
    Drive { address: PciAddress, write_lba: u64 },
    MakeImage { path: String, mib: u64 },
    CheckImage { path: String, lbas: Vec<u64> },
}

fn parse_args(
    args: impl IntoIterator<Item = std::ffi::OsString>,
) -> Result<Command, lexopt::Error> {
    use lexopt::prelude::*;
    let mut operands: Vec<String> = Vec::new();
    let mut write_lba = None;
    let mut parser = lexopt::Parser::from_args(args);
    while let Some(arg) = parser.next()? {
        match arg {
            Short('h') | Long("help") => return Ok(Command::Help),
            Long("write-lba") => write_lba = Some(parser.value()?.parse()?),
            Value(v) => operands.push(v.string()?),
            _ => return Err(arg.unexpected()),
        }
    }
    let number = |text: &String| -> Result<u64, lexopt::Error> {
        text.parse()
            .map_err(|_| format!("{text:?} is not a number").into())
    };
    let host_side = matches!(
        operands.first().map(String::as_str),
        Some("make-image" | "check-image")
    );
    if host_side && write_lba.is_some() {
        return Err("--write-lba is for driving the device, not for the image".into());
    }
    Ok(match operands.first().map(String::as_str) {
        Some("make-image") => match &operands[1..] {
            [path, mib] => Command::MakeImage {
                path: path.clone(),
                mib: number(mib)?,
            },
            _ => return Err("make-image takes PATH and MIB".into()),
        },
        Some("check-image") => match &operands[1..] {
            [path, lbas @ ..] if !lbas.is_empty() => Command::CheckImage {
                path: path.clone(),
                lbas: lbas.iter().map(number).collect::<Result<_, _>>()?,
            },
            _ => return Err("check-image takes PATH and at least one LBA".into()),
        },
        _ => {
            let address = match operands.as_slice() {
                [] => PciAddress::new(0, 0, 6, 0),
                [one] => one.parse::<PciAddress>().map_err(|e| e.to_string())?,
                [_, extra, ..] => return Err(format!("unexpected argument {extra:?}").into()),
            };
            Command::Drive {
                address,
                write_lba: write_lba.unwrap_or(100),
            }
        }
    })
}

/// Host side: writes `mib` MiB of image, the first blocks (512 bytes) with
/// the pattern.
fn make_image(path: &str, mib: u64) -> Result<(), Error> {
    let mut bytes = Vec::new();
    for n in 0..64 {
        bytes.extend(expected_block(n, 512));
    }
    std::fs::write(path, &bytes)?;
    std::fs::File::options()
        .write(true)
        .open(path)?
        .set_len(mib << 20)?;
    println!("{path}: {mib} MiB, blocks 0..64 hold the pattern");
    Ok(())
}

/// Host side: checks that blocks `lbas` hold what the driver writes.
fn check_image(path: &str, lbas: &[u64]) -> Result<(), Error> {
    let bytes = std::fs::read(path)?;
    for &lba in lbas {
        let block = usize::try_from(lba)
            .ok()
            .and_then(|n| n.checked_mul(512))
            .and_then(|at| bytes.get(at..)?.get(..512));
        let got = block.ok_or("LBA past the image")?;
        if got != written_block(lba, 512).as_slice() {
            return Err(format!("{path}: LBA {lba} does not hold the driver's block").into());
        }
        println!("{path}: LBA {lba} holds the block the driver wrote");
    }
    Ok(())
}

fn drive(address: PciAddress, write_lba: u64) -> Result<(), Error> {
    let eal = Eal::builder()
        .no_huge(64 << 20)
        .no_shconf()
        .allow(address)
        .log_level(LogLevel::Error)
        .init()?;
    let vfio = eal.vfio_open(address)?;
    // Start from a known state, as a driver taking over a device should: the
    // kernel's function reset (FLR or the like) where the device has one.
    match vfio.reset() {
        Ok(()) => println!("reset: VFIO_DEVICE_RESET done"),
        Err(ResetError::Unsupported { .. }) => println!("reset: the device offers none"),
        Err(e) => return Err(e.into()),
    }
    let bar_len = vfio.region_info(RegionIndex::BAR0)?.size;
    #[cfg(target_pointer_width = "64")]
    let bar = vfio.map_bar(RegionIndex::BAR0)?;
    #[cfg(not(target_pointer_width = "64"))]
    let bar = vfio.region(RegionIndex::BAR0)?;
    let path = if cfg!(target_pointer_width = "64") {
        "mmap64"
    } else {
        "pread64/pwrite64"
    };
    vfio.set_bus_master(true)?;

    let regs = NvmeRegs::new(&bar, bar_len)?;
    let cap = regs.cap().read()?;
    let stride = 4u64 << nvme::cap::dstrd::get(cap);
    let timeout = Duration::from_millis(500 * nvme::cap::to::get(cap).max(1));
    let vs = regs.vs().read()?;
    println!(
        "nvme {address}: NVMe {}.{}, MQES {}, doorbell stride {stride}, registers through {path}",
        nvme::vs::mjr::get(vs),
        nvme::vs::mnr::get(vs),
        nvme::cap::mqes::get(cap) + 1
    );

    // MSI-X: vector 0 for the admin queue, 1 for the I/O queue.
    let irqs = match vfio.enable_interrupts(IrqKind::Msix, 2) {
        Ok(irqs) => Some(irqs),
        Err(e) => {
            println!("interrupts: MSI-X unavailable ({e}); polling");
            None
        }
    };
    let mut ctrl = Controller {
        bar: &bar,
        regs,
        stride,
        timeout,
        irqs,
        signals: [0; 2],
        eal: &eal,
    };

    // Disable, set up the admin queues, enable.
    let cc = ctrl.regs.cc().read()?;
    if nvme::cc::en::is_set(cc) {
        ctrl.regs.cc().write(nvme::cc::en::with_const::<0>(cc))?;
    }
    ctrl.wait_ready(false)?;
    println!("controller disabled");
    let vector = ctrl.irqs.as_ref().map(|_| 0);
    let mut admin = ctrl.new_queue(0, vector)?;
    let aqa = nvme::aqa::acqs::with_const::<{ DEPTH as u64 - 1 }>(nvme::aqa::asqs::value_const::<
        { DEPTH as u64 - 1 },
    >());
    ctrl.regs.aqa().write(aqa)?;
    ctrl.regs.asq().write(admin.sq.iova())?;
    ctrl.regs.acq().write(admin.cq.iova())?;
    let cc = nvme::cc::iocqes::with_const::<4>(nvme::cc::iosqes::with_const::<6>(
        nvme::cc::en::value_const::<1>(),
    ));
    ctrl.regs.cc().write(cc)?;
    ctrl.wait_ready(true)?;
    println!(
        "controller enabled: admin queues at IOVA {:#x} / {:#x}",
        admin.sq.iova(),
        admin.cq.iova()
    );

    // Identify controller and namespace 1.
    let data = DmaBuffer::new(&eal, 4096, 4096)?;
    let mut cmd = [0u32; 16];
    cmd[0] = 0x06;
    prp(&mut cmd, data.iova());
    cmd[10] = 1;
    let started = Instant::now();
    ctrl.admin_ok(&mut admin, cmd, "identify controller")?;
    let identify_latency = started.elapsed();
    let id = data.to_vec();
    println!("model: {}", text(&id[24..64]));
    println!("serial: {}", text(&id[4..24]));
    println!("firmware: {}", text(&id[64..72]));
    let namespaces = u32::from_le_bytes(id[516..520].try_into()?);
    println!("namespaces: {namespaces}");

    data.fill(0);
    let mut cmd = [0u32; 16];
    cmd[0] = 0x06;
    cmd[1] = 1;
    prp(&mut cmd, data.iova());
    cmd[10] = 0;
    ctrl.admin_ok(&mut admin, cmd, "identify namespace")?;
    let ns = data.to_vec();
    let nsze = u64::from_le_bytes(ns[0..8].try_into()?);
    let flbas = (ns[26] & 0xf) as usize;
    let lbaf = u32::from_le_bytes(ns[128 + 4 * flbas..132 + 4 * flbas].try_into()?);
    let block = 1usize << ((lbaf >> 16) & 0xff);
    println!(
        "namespace 1: {nsze} blocks of {block} bytes ({} MiB), LBA format {flbas} (metadata {} bytes)",
        (nsze * block as u64) >> 20,
        lbaf & 0xffff
    );

    // One I/O queue pair: completion queue first, interrupts on vector 1.
    let io_vector = ctrl.irqs.as_ref().map(|_| 1);
    let mut io = ctrl.new_queue(1, io_vector)?;
    let mut cmd = [0u32; 16];
    cmd[0] = 0x05;
    prp(&mut cmd, io.cq.iova());
    cmd[10] = (u32::from(DEPTH) - 1) << 16 | 1;
    cmd[11] = match io_vector {
        Some(v) => v << 16 | 0b11,
        None => 0b01,
    };
    ctrl.admin_ok(&mut admin, cmd, "create I/O completion queue")?;
    let mut cmd = [0u32; 16];
    cmd[0] = 0x01;
    prp(&mut cmd, io.sq.iova());
    cmd[10] = (u32::from(DEPTH) - 1) << 16 | 1;
    cmd[11] = 1 << 16 | 0b01;
    ctrl.admin_ok(&mut admin, cmd, "create I/O submission queue")?;
    println!(
        "I/O queue pair 1: depth {DEPTH}, completions {}",
        match io_vector {
            Some(v) => format!("on MSI-X vector {v}"),
            None => "polled".to_owned(),
        }
    );

    // Read the first LBAs and check the pattern.
    let count = PATTERN_BLOCKS.min(4096 / block as u64);
    let buf = DmaBuffer::new(&eal, 4096, 4096)?;
    let mut cmd = [0u32; 16];
    cmd[0] = 0x02;
    cmd[1] = 1;
    prp(&mut cmd, buf.iova());
    cmd[12] = count as u32 - 1;
    let started = Instant::now();
    let c = ctrl.submit(&mut io, cmd)?;
    let read_latency = started.elapsed();
    if c.status != 0 {
        return Err(format!("read: status {:#x}", c.status).into());
    }
    let bytes = buf.to_vec();
    let mut good = 0;
    for n in 0..count {
        let got = &bytes[n as usize * block..(n as usize + 1) * block];
        if got == expected_block(n, block).as_slice() {
            good += 1;
        } else {
            println!("LBA {n}: WRONG ({:?}...)", &got[..16]);
        }
    }
    println!("read LBAs 0..{count}: {good} of {count} match the pattern");

    // Write one block and flush it.
    let mine = written_block(write_lba, block);
    buf.fill(0);
    buf.copy_from_slice(0, &mine)?;
    let mut cmd = [0u32; 16];
    cmd[0] = 0x01;
    cmd[1] = 1;
    prp(&mut cmd, buf.iova());
    cmd[10] = write_lba as u32;
    cmd[11] = (write_lba >> 32) as u32;
    let c = ctrl.submit(&mut io, cmd)?;
    if c.status != 0 {
        return Err(format!("write: status {:#x}", c.status).into());
    }
    let mut cmd = [0u32; 16];
    cmd[0] = 0x00;
    cmd[1] = 1;
    let c = ctrl.submit(&mut io, cmd)?;
    if c.status != 0 {
        return Err(format!("flush: status {:#x}", c.status).into());
    }
    println!("wrote and flushed LBA {write_lba}");
    if let Some(irqs) = ctrl.irqs.as_ref() {
        // Completions already posted when looked at need no wait: count what
        // the eventfds saw, including any still unread.
        let admin_signals = ctrl.signals[0] + irqs.pending(0)?;
        let io_signals = ctrl.signals[1] + irqs.pending(1)?;
        println!(
            "interrupts: MSI-X, {} vectors: admin vector 0 signalled {admin_signals} times, I/O vector 1 {io_signals} times",
            irqs.count()
        );
        if io_signals == 0 {
            println!("interrupts: the I/O vector never fired: WRONG");
        }
    }
    println!("latency: identify {identify_latency:?}, read of {count} blocks {read_latency:?}");

    // Shut down: the controller stops using the queues before they are freed.
    let cc = ctrl.regs.cc().read()?;
    ctrl.regs.cc().write(nvme::cc::shn::with_const::<1>(cc))?;
    let start = Instant::now();
    while nvme::csts::shst::get(ctrl.regs.csts().read()?) != 2 && start.elapsed() < timeout {
        std::thread::sleep(Duration::from_millis(1));
    }
    let cc = ctrl.regs.cc().read()?;
    ctrl.regs.cc().write(nvme::cc::en::with_const::<0>(cc))?;
    ctrl.wait_ready(false)?;
    println!("controller shut down");
    let _ = c.result;
    drop(ctrl);
    drop(io);
    drop(admin);
    Ok(())
}

fn main() -> ExitCode {
    let result = match parse_args(std::env::args_os().skip(1)) {
        Ok(Command::Help) => {
            println!("{USAGE}\n\n{ABOUT}");
            return ExitCode::SUCCESS;
        }
        Ok(Command::Drive { address, write_lba }) => drive(address, write_lba),
        Ok(Command::MakeImage { path, mib }) => make_image(&path, mib),
        Ok(Command::CheckImage { path, lbas }) => check_image(&path, &lbas),
        Err(e) => {
            eprintln!("nvme: {e}\n{USAGE}\n(nvme --help says more)");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("nvme: {e}");
            ExitCode::FAILURE
        }
    }
}
