//! Sends N frames of a given size at a given rate on one port and reports what
//! the peer counted.
//!
//! ```text
//! pktgen --port P --count N --size BYTES [--rate PPS] [--peer Q] [--linger SECS] -- EAL-ARGS...
//! ```
//!
//! Each frame is an Ethernet frame (broadcast destination, the port's MAC as
//! source, EtherType 0x88b5 for local experiments) carrying its sequence
//! number and a pattern derived from it. `--peer Q` is a port of this process
//! that receives what P sends (the other end of a link, or P itself for a
//! loopback `net_ring`): pktgen counts and checks every frame it gets there.
//! Without `--peer` (the peer is another process, e.g. `dpdk-testpmd`), it
//! sends, waits `--linger` seconds, and prints the port's statistics.
//! `--rate 0` (the default) sends as fast as the port takes frames.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use dpdk::EalBuilder;
use dpdk::{Burst, Mbuf, Mempool, MempoolConfig, Port, PortConfig, RxQueue};

const BURST: usize = 32;
const ETHERTYPE: [u8; 2] = [0x88, 0xb5];

struct Options {
    port: u16,
    peer: Option<u16>,
    count: u64,
    size: usize,
    rate: u64,
    linger: f64,
    eal: Vec<String>,
}

const USAGE: &str = "\
usage: pktgen [--port P] [--count N] [--size BYTES] [--rate PPS] [--peer Q] [--linger SECS] -- EAL-ARGS...";

/// What `--help` prints after the usage.
const ABOUT: &str = "\
Sends N frames (default 1000) of BYTES bytes (60..=1514, default 64) on port P
(default 0), at PPS frames a second (0, the default: as fast as the port takes
them). --peer Q counts and checks the frames that arrive on port Q of this
process; without it pktgen waits SECS seconds (default 1) and prints port P's
statistics. The EAL's own arguments follow --.";

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
    let mut o = Options {
        port: 0,
        peer: None,
        count: 1000,
        size: 64,
        rate: 0,
        linger: 1.0,
        eal,
    };
    let mut parser = lexopt::Parser::from_args(&args[..split]);
    while let Some(arg) = parser.next()? {
        match arg {
            Short('h') | Long("help") => return Ok(None),
            Long("port") => o.port = parser.value()?.parse()?,
            Long("peer") => o.peer = Some(parser.value()?.parse()?),
            Long("count") => o.count = parser.value()?.parse()?,
            Long("size") => o.size = parser.value()?.parse()?,
            Long("rate") => o.rate = parser.value()?.parse()?,
            Long("linger") => o.linger = parser.value()?.parse()?,
            _ => return Err(arg.unexpected()),
        }
    }
    if !(60..=1514).contains(&o.size) {
        return Err(format!("--size {} outside 60..=1514", o.size).into());
    }
    if !(o.linger.is_finite() && o.linger >= 0.0) {
        return Err(format!("--linger {} is not a number of seconds", o.linger).into());
    }
    Ok(Some(o))
}

fn pattern(seq: u64, i: usize) -> u8 {
    (seq as usize).wrapping_mul(7).wrapping_add(i) as u8
}

fn build(m: &mut Mbuf<'_>, size: usize, mac: [u8; 6], seq: u64) -> Result<(), dpdk::MbufError> {
    let f = m.append(size)?;
    f[..6].copy_from_slice(&[0xff; 6]);
    f[6..12].copy_from_slice(&mac);
    f[12..14].copy_from_slice(&ETHERTYPE);
    f[14..22].copy_from_slice(&seq.to_be_bytes());
    for (i, b) in f.iter_mut().enumerate().skip(22) {
        *b = pattern(seq, i);
    }
    Ok(())
}

/// Checks one received frame: Some(seq) when it is one of ours and intact.
fn check(m: &Mbuf<'_>, size: usize) -> Option<u64> {
    let f = m.to_vec();
    if f.len() != size || f[12..14] != ETHERTYPE {
        return None;
    }
    let seq = u64::from_be_bytes(f[14..22].try_into().ok()?);
    f.iter()
        .enumerate()
        .skip(22)
        .all(|(i, b)| *b == pattern(seq, i))
        .then_some(seq)
}

#[derive(Default)]
struct PeerCount {
    frames: u64,
    bad: u64,
    out_of_order: u64,
    next: u64,
}

/// Receives what arrived on the peer, if any, and counts it.
fn poll_peer<'eal>(
    rx: &mut Option<RxQueue<'_, 'eal>>,
    burst: &mut Burst<'eal>,
    c: &mut PeerCount,
    size: usize,
) {
    if let Some(rx) = rx.as_mut() {
        rx.rx_burst(burst);
        for m in burst.as_slice() {
            match check(m, size) {
                Some(seq) => {
                    c.frames += 1;
                    if seq != c.next {
                        c.out_of_order += 1;
                    }
                    c.next = seq + 1;
                }
                None => c.bad += 1,
            }
        }
        burst.clear();
    }
}

fn run(o: Options) -> Result<(), Box<dyn std::error::Error>> {
    let mut builder = EalBuilder::new().program_name("pktgen");
    for arg in &o.eal {
        builder = builder.arg(arg);
    }
    let eal = builder.init()?;
    let pool = Mempool::new(&eal, &MempoolConfig::new("pktgen", 8191))?;
    let mut port = Port::take(&eal, o.port)?;
    let mut peer_port = match o.peer {
        Some(q) if q != o.port => Some(Port::take(&eal, q)?),
        _ => None,
    };
    for p in std::iter::once(&mut port).chain(peer_port.as_mut()) {
        p.configure(&PortConfig::new(1, 1))?;
        p.setup_rx_queue(0, 1024, None, &pool)?;
        p.setup_tx_queue(0, 1024, None)?;
        p.start()?;
        p.reset_stats()?;
    }
    let mac = port.mac()?;
    let mut tx = port.tx_queue(0)?;
    let peer_ref = match (&peer_port, o.peer) {
        (Some(p), _) => Some(p),
        (None, Some(_)) => Some(&port),
        (None, None) => None,
    };
    let mut peer_rx = match peer_ref {
        Some(p) => Some(p.rx_queue(0)?),
        None => None,
    };
    let mut counted = PeerCount::default();
    let size = o.size;
    let mut out = Burst::new(BURST)?;
    let mut inb = Burst::new(BURST)?;
    let start = Instant::now();
    let mut seq = 0u64;
    let mut sent = 0u64;
    while sent < o.count {
        if o.rate > 0 {
            let due = Duration::from_secs_f64(sent as f64 / o.rate as f64);
            if start.elapsed() < due {
                poll_peer(&mut peer_rx, &mut inb, &mut counted, size);
                continue;
            }
        }
        let want = if o.rate > 0 { 1 } else { BURST } as u64;
        while (out.len() as u64) < want.min(o.count - sent) {
            let mut m = match pool.alloc() {
                Ok(m) => m,
                Err(_) => break,
            };
            build(&mut m, o.size, mac, seq)?;
            seq += 1;
            out.push(m).map_err(|_| "burst full")?;
        }
        sent += tx.tx_burst(&mut out) as u64;
        poll_peer(&mut peer_rx, &mut inb, &mut counted, size);
    }
    let elapsed = start.elapsed().as_secs_f64();
    let linger_until = Instant::now() + Duration::from_secs_f64(o.linger);
    while Instant::now() < linger_until
        && (peer_rx.is_none() || counted.frames + counted.bad < sent)
    {
        poll_peer(&mut peer_rx, &mut inb, &mut counted, size);
        if peer_rx.is_none() {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    drop(tx);
    drop(peer_rx);
    println!(
        "pktgen: sent {sent} frames of {} bytes on port {} in {elapsed:.3} s ({:.0} frames/s)",
        o.size,
        o.port,
        sent as f64 / elapsed
    );
    let stats = port.stats()?;
    println!(
        "port {}: tx_packets {} tx_bytes {} tx_errors {}",
        o.port, stats.tx_packets, stats.tx_bytes, stats.tx_errors
    );
    if let Some(q) = o.peer {
        println!(
            "peer port {q}: counted {} frames, {} bad, {} out of order",
            counted.frames, counted.bad, counted.out_of_order
        );
    }
    Ok(())
}

fn main() -> ExitCode {
    let o = match parse_args(std::env::args_os().skip(1).collect()) {
        Ok(Some(o)) => o,
        Ok(None) => {
            println!("{USAGE}\n\n{ABOUT}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("pktgen: {e}\n{USAGE}\n(pktgen --help says more)");
            return ExitCode::from(2);
        }
    };
    match run(o) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pktgen: {e}");
            ExitCode::FAILURE
        }
    }
}
