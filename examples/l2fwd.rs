//! Layer-2 forwarding with MAC swap over pairs of ethdev ports, in the spirit
//! of DPDK's `l2fwd`: ports 0<->1, 2<->3, ...; one worker lcore per pair
//! receives bursts of 32 on each port of its pair, swaps the frames' source
//! and destination MAC addresses and sends them on the other port. The main
//! lcore prints each port's RX/TX/drop counters once a second; Ctrl-C (or
//! `--seconds`) stops the workers cleanly and prints the totals.
//!
//! ```text
//! l2fwd [--seconds S] [--seed N] -- EAL-ARGS...
//! l2fwd -- -l 0,1 --no-pci --vdev net_ring0 --vdev net_ring1 --no-huge -m 256
//! ```
//!
//! `--seed N` sends N frames on every port at start, so that a loop of
//! in-memory ports (`net_ring`, whose TX comes back on its RX) has traffic.

use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use dpdk::EalBuilder;
use dpdk::{lcore_scope, StopFlag};
use dpdk::{Burst, Mempool, MempoolConfig, Port, PortConfig, RxQueue, TxQueue};

const BURST: usize = 32;

/// One port's counters, written by its worker, read by the main lcore.
#[derive(Default)]
struct Counters {
    rx: AtomicU64,
    tx: AtomicU64,
    dropped: AtomicU64,
}

struct Options {
    seconds: Option<u64>,
    seed: usize,
    eal: Vec<String>,
}

const USAGE: &str = "usage: l2fwd [--seconds S] [--seed N] -- EAL-ARGS...";

/// What `--help` prints after the usage.
const ABOUT: &str = "\
Forwards frames between port pairs 0<->1, 2<->3, ... with MAC swap, one worker
lcore per pair, and prints each port's counters once a second. --seconds stops
after S seconds (default: at Ctrl-C); --seed sends N frames on every port at
start (for a loop of in-memory ports). The EAL's own arguments follow --.";

/// `None` when the command line asks for `--help`.
fn parse_args(args: Vec<std::ffi::OsString>) -> Result<Option<Options>, lexopt::Error> {
    use lexopt::prelude::*;
    // Everything after the first `--` is the EAL's, untouched.
    let split = args.iter().position(|a| a == "--").unwrap_or(args.len());
    let eal = args[split..]
        .iter()
        .skip(1)
        .map(|a| a.clone().string())
        .collect::<Result<_, _>>()?;
    let mut opts = Options {
        seconds: None,
        seed: 0,
        eal,
    };
    let mut parser = lexopt::Parser::from_args(&args[..split]);
    while let Some(arg) = parser.next()? {
        match arg {
            Short('h') | Long("help") => return Ok(None),
            Long("seconds") => opts.seconds = Some(parser.value()?.parse()?),
            Long("seed") => opts.seed = parser.value()?.parse()?,
            _ => return Err(arg.unexpected()),
        }
    }
    Ok(Some(opts))
}

/// Swaps destination and source MAC of every frame of at least 12 bytes.
#[inline(always)]
fn mac_swap(burst: &mut Burst<'_>) {
    for m in burst.as_mut_slice() {
        if let Ok(d) = m.data_mut() {
            if d.len() >= 12 {
                let (dst, src) = d.split_at_mut(6);
                dst.swap_with_slice(&mut src[..6]);
            }
        }
    }
}

/// Receives on `rx`, sends on `tx`; what `tx` does not take is dropped (freed).
#[inline(always)]
fn forward<'eal>(
    rx: &mut RxQueue<'_, 'eal>,
    tx: &mut TxQueue<'_, 'eal>,
    burst: &mut Burst<'eal>,
    rx_count: &Counters,
    tx_count: &Counters,
) {
    let got = rx.rx_burst(burst);
    if got == 0 {
        return;
    }
    mac_swap(burst);
    let sent = tx.tx_burst(burst);
    let dropped = burst.len();
    burst.clear();
    rx_count.rx.fetch_add(got as u64, Ordering::Relaxed);
    tx_count.tx.fetch_add(sent as u64, Ordering::Relaxed);
    tx_count
        .dropped
        .fetch_add(dropped as u64, Ordering::Relaxed);
}

fn run(opts: Options) -> Result<(), Box<dyn std::error::Error>> {
    let mut builder = EalBuilder::new().program_name("l2fwd");
    for arg in &opts.eal {
        builder = builder.arg(arg);
    }
    let eal = builder.init()?;
    let ids: Vec<u16> = eal.eth_ports()?.iter().map(|p| p.port_id).collect();
    if ids.len() < 2 || ids.len() % 2 != 0 {
        return Err(format!("l2fwd needs an even number of ports, found {}", ids.len()).into());
    }
    let workers = eal.worker_lcores();
    if workers.len() < ids.len() / 2 {
        return Err(format!(
            "{} port pairs need {} worker lcores, the EAL has {}",
            ids.len() / 2,
            ids.len() / 2,
            workers.len()
        )
        .into());
    }
    let pool = Mempool::new(&eal, &MempoolConfig::new("l2fwd", 8191))?;
    let mut ports = Vec::new();
    for &id in &ids {
        let mut port = Port::take(&eal, id)?;
        port.configure(&PortConfig::new(1, 1))?;
        port.setup_rx_queue(0, 1024, None, &pool)?;
        port.setup_tx_queue(0, 1024, None)?;
        port.start()?;
        // Some drivers (net_null, net_ring) have no promiscuous mode.
        let _ = port.set_promiscuous(true);
        let mac = port.mac()?;
        println!(
            "port {id}: MAC {}",
            mac.iter()
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(":")
        );
        ports.push(port);
    }
    let counters: Vec<Counters> = ids.iter().map(|_| Counters::default()).collect();
    let stop = StopFlag::on_signals()?;

    // Seed each port with frames addressed to itself.
    for port in &ports {
        let mut tx = port.tx_queue(0)?;
        let mut burst = Burst::new(BURST)?;
        let mut left = opts.seed;
        while left > 0 {
            let n = left.min(BURST - burst.len());
            pool.alloc_bulk(&mut burst, n)?;
            for m in burst.as_mut_slice() {
                if m.pkt_len() == 0 {
                    let mac = port.mac()?;
                    let frame = m.append(64)?;
                    frame[..6].copy_from_slice(&mac);
                    frame[6..12].copy_from_slice(&[0x02, 0, 0, 0, 0, 0x01]);
                    frame[12..14].copy_from_slice(&[0x88, 0xb5]);
                }
            }
            left -= n;
            let sent = tx.tx_burst(&mut burst);
            counters[ports.iter().position(|p| p.id() == port.id()).unwrap()]
                .tx
                .fetch_add(sent as u64, Ordering::Relaxed);
        }
    }

    let mut started = Instant::now();
    let failed = lcore_scope(&eal, |s| -> Result<(), Box<dyn std::error::Error>> {
        let mut handles = Vec::new();
        for (pair, lcore) in (0..ports.len() / 2).zip(workers.iter().copied()) {
            let (a, b) = (&ports[2 * pair], &ports[2 * pair + 1]);
            let (ca, cb) = (&counters[2 * pair], &counters[2 * pair + 1]);
            let (mut rx_a, mut tx_a) = (a.rx_queue(0)?, a.tx_queue(0)?);
            let (mut rx_b, mut tx_b) = (b.rx_queue(0)?, b.tx_queue(0)?);
            let stop = stop.clone();
            println!("lcore {lcore}: ports {} <-> {}", a.id(), b.id());
            handles.push(s.launch(lcore, move || {
                let mut burst = Burst::new(BURST).expect("a burst of 32");
                while !stop.is_stopped() {
                    forward(&mut rx_a, &mut tx_b, &mut burst, ca, cb);
                    forward(&mut rx_b, &mut tx_a, &mut burst, cb, ca);
                }
            })?);
        }
        // The clock starts once every worker runs (launching is slow under
        // valgrind), and each second's counters print before the limit is
        // checked: a run of S seconds prints S lines however slow the machine.
        started = Instant::now();
        let mut next = started + Duration::from_secs(1);
        while !stop.is_stopped() {
            if Instant::now() >= next {
                next += Duration::from_secs(1);
                for (id, c) in ids.iter().zip(&counters) {
                    println!(
                        "port {id}: rx {} tx {} dropped {}",
                        c.rx.load(Ordering::Relaxed),
                        c.tx.load(Ordering::Relaxed),
                        c.dropped.load(Ordering::Relaxed)
                    );
                }
            }
            if let Some(limit) = opts.seconds {
                if started.elapsed() >= Duration::from_secs(limit) {
                    stop.stop();
                    break;
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        for h in handles {
            if h.join().is_err() {
                return Err("a worker lcore panicked".into());
            }
        }
        Ok(())
    });
    failed?;
    let secs = started.elapsed().as_secs_f64();
    println!("stopped after {secs:.1} s");
    let (mut rx, mut tx, mut dropped) = (0, 0, 0);
    for (id, c) in ids.iter().zip(&counters) {
        let (r, t, d) = (
            c.rx.load(Ordering::Relaxed),
            c.tx.load(Ordering::Relaxed),
            c.dropped.load(Ordering::Relaxed),
        );
        let stats = ports[ids.iter().position(|p| p == id).unwrap()].stats()?;
        println!(
            "total port {id}: rx {r} tx {t} dropped {d} (driver: rx {} tx {})",
            stats.rx_packets, stats.tx_packets
        );
        rx += r;
        tx += t;
        dropped += d;
    }
    println!(
        "total: rx {rx} tx {tx} dropped {dropped} ({:.3} Mpps forwarded)",
        rx as f64 / secs / 1e6
    );
    drop(ports);
    Ok(())
}

fn main() -> ExitCode {
    let opts = match parse_args(std::env::args_os().skip(1).collect()) {
        Ok(Some(o)) => o,
        Ok(None) => {
            println!("{USAGE}\n\n{ABOUT}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("l2fwd: {e}\n{USAGE}\n(l2fwd --help says more)");
            return ExitCode::from(2);
        }
    };
    match run(opts) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("l2fwd: {e}");
            ExitCode::FAILURE
        }
    }
}
