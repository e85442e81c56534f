//! The data plane against C in one run: io forwarding (receive a burst of 32,
//! send it on the other port, free what TX did not take) over a pair of
//! `net_ring` ports and a pair of `net_null` ports, and mbuf alloc+free,
//! single and in bulk. Each operation runs as
//!
//! * `C`: the loop written in C (`c/baseline.c`), DPDK's static inline
//!   functions inlined into it; the forwarders with queue 0 written into the
//!   loop, as DPDK's l2fwd has it;
//! * `C, queues at run time`: the forwarders with the queue ids as arguments,
//!   as testpmd's engines take them from their stream (and as a Rust queue
//!   handle holds them);
//! * `Rust`: what a Rust application writes with the safe API
//!   (`RxQueue::rx_burst`/`TxQueue::tx_burst` into a reusable `Burst`,
//!   `Mempool::alloc` and drop, `alloc_bulk` and `Burst::clear`), whose
//!   per-packet calls are written in Rust where dpdk-sys enables its fast
//!   path (`dpdk_eth_fast_path`);
//! * `Rust through the shim`: the same loop calling DPDK's inline functions
//!   through the shim and bindgen's wrappers, one call each, which is what
//!   the safe API does without the fast path.
//!
//! Million packets per second (best and median of 15 rounds, the variants
//! taking turns) and callgrind instructions per packet;
//! `dpdk-testpmd --forward-mode=io` on the same vdevs as the outside
//! reference, when it is installed.
//!
//! `--label NAME` names the build (tools/bench.sh also runs the cross-language
//! LTO build); `--kernels N` runs each kernel once with N rounds (the callgrind
//! runs); `--no-testpmd` skips the reference.

use std::hint::black_box;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use dpdk::sys::{self, rte_mbuf, rte_mempool};
use dpdk::{Burst, Mempool, MempoolConfig, Port, PortConfig, RxQueue, TxQueue};
use dpdk::{Eal, EalBuilder, LogLevel};
use dpdk_benches::*;

const BURST: usize = 32;

/// The operations, and the variants each runs in (see the module's docs).
const OPERATIONS: [&str; 4] = [
    "io fwd net_ring",
    "io fwd net_null",
    "mbuf alloc+free single",
    "mbuf alloc+free bulk 32",
];
const FWD_VARIANTS: [&str; 4] = [
    "C",
    "C, queues at run time",
    "Rust",
    "Rust through the shim",
];
const MBUF_VARIANTS: [&str; 3] = ["C", "Rust", "Rust through the shim"];

/// One direction of the Rust forwarder: what a Rust application writes.
#[inline(always)]
fn fwd_one<'eal>(
    rx: &mut RxQueue<'_, 'eal>,
    tx: &mut TxQueue<'_, 'eal>,
    burst: &mut Burst<'eal>,
) -> u64 {
    let got = rx.rx_burst(burst);
    if got == 0 {
        return 0;
    }
    tx.tx_burst(burst);
    burst.clear();
    got as u64
}

/// The queues of a port pair and the burst, for the Rust kernels.
pub struct Pair<'p, 'eal> {
    rx_a: RxQueue<'p, 'eal>,
    tx_a: TxQueue<'p, 'eal>,
    rx_b: RxQueue<'p, 'eal>,
    tx_b: TxQueue<'p, 'eal>,
    burst: Burst<'eal>,
}

/// n rounds of a->b then b->a; returns the packets received.
#[inline(always)]
fn io_fwd(p: &mut Pair<'_, '_>, n: u64) -> u64 {
    let mut pkts = 0;
    for _ in 0..n {
        pkts += fwd_one(&mut p.rx_a, &mut p.tx_b, &mut p.burst);
        pkts += fwd_one(&mut p.rx_b, &mut p.tx_a, &mut p.burst);
    }
    pkts
}

/// [`io_fwd`] over the ring pair (its own symbol for callgrind).
#[no_mangle]
#[inline(never)]
pub fn bench_rust_io_fwd_ring(p: &mut Pair<'_, '_>, n: u64) -> u64 {
    // Not identical to the null one, so the two are not merged into one symbol.
    black_box(1u8);
    io_fwd(p, n)
}

/// [`io_fwd`] over the null pair.
#[no_mangle]
#[inline(never)]
pub fn bench_rust_io_fwd_null(p: &mut Pair<'_, '_>, n: u64) -> u64 {
    black_box(2u8);
    io_fwd(p, n)
}

/// n single allocations, each dropped at once.
#[no_mangle]
#[inline(never)]
pub fn bench_rust_mbuf_single(pool: &Mempool<'_>, n: u64) -> u64 {
    let mut ok = 0;
    for _ in 0..n {
        if let Ok(m) = pool.alloc() {
            ok += 1;
            drop(m);
        }
    }
    ok
}

/// n bulk allocations of 32 into a burst, each freed in bulk.
#[no_mangle]
#[inline(never)]
pub fn bench_rust_mbuf_bulk<'eal>(pool: &Mempool<'eal>, burst: &mut Burst<'eal>, n: u64) -> u64 {
    let mut ok = 0;
    for _ in 0..n {
        if pool.alloc_bulk(burst, BURST).is_ok() {
            ok += BURST as u64;
            burst.clear();
        }
    }
    ok
}

/// One direction through the shim: C's loop, each inline call a call.
///
/// # Safety
/// Started ports with these queues, polled by this thread only.
#[inline(always)]
unsafe fn shim_fwd_one(from: u16, from_q: u16, to: u16, to_q: u16) -> u64 {
    let mut pkts = [std::ptr::null_mut::<rte_mbuf>(); BURST];
    // SAFETY: the caller's ports and queues; the array has room for BURST,
    // the received mbufs are this loop's until sent or freed.
    unsafe {
        let got = sys::dpdk_shim_eth_rx_burst(from, from_q, pkts.as_mut_ptr(), BURST as u16);
        if got == 0 {
            return 0;
        }
        let sent = sys::dpdk_shim_eth_tx_burst(to, to_q, pkts.as_mut_ptr(), got);
        if sent < got {
            sys::rte_pktmbuf_free_bulk(pkts.as_mut_ptr().add(sent as usize), (got - sent) as u32);
        }
        got as u64
    }
}

/// # Safety
/// As [`shim_fwd_one`], for both ports.
#[inline(always)]
unsafe fn shim_io_fwd(a: u16, qa: u16, b: u16, qb: u16, n: u64) -> u64 {
    let mut pkts = 0;
    for _ in 0..n {
        // SAFETY: the caller's contract.
        unsafe {
            pkts += shim_fwd_one(a, qa, b, qb);
            pkts += shim_fwd_one(b, qb, a, qa);
        }
    }
    pkts
}

/// [`shim_io_fwd`] over the ring pair.
///
/// # Safety
/// As [`shim_fwd_one`].
#[no_mangle]
#[inline(never)]
pub unsafe fn bench_shim_io_fwd_ring(a: u16, qa: u16, b: u16, qb: u16, n: u64) -> u64 {
    black_box(3u8);
    // SAFETY: the caller's contract.
    unsafe { shim_io_fwd(a, qa, b, qb, n) }
}

/// [`shim_io_fwd`] over the null pair.
///
/// # Safety
/// As [`shim_fwd_one`].
#[no_mangle]
#[inline(never)]
pub unsafe fn bench_shim_io_fwd_null(a: u16, qa: u16, b: u16, qb: u16, n: u64) -> u64 {
    black_box(4u8);
    // SAFETY: the caller's contract.
    unsafe { shim_io_fwd(a, qa, b, qb, n) }
}

/// n single allocations through bindgen's wrappers, each freed at once.
///
/// # Safety
/// `mp` is a live packet pool.
#[no_mangle]
#[inline(never)]
pub unsafe fn bench_shim_mbuf_single(mp: *mut rte_mempool, n: u64) -> u64 {
    let mut ok = 0;
    for _ in 0..n {
        // SAFETY: a live pool; each mbuf taken is freed once.
        unsafe {
            let m = sys::rte_pktmbuf_alloc(mp);
            if !m.is_null() {
                ok += 1;
                sys::rte_pktmbuf_free(m);
            }
        }
    }
    ok
}

/// n bulk allocations of 32 through bindgen's wrappers, each freed in bulk.
///
/// # Safety
/// `mp` is a live packet pool.
#[no_mangle]
#[inline(never)]
pub unsafe fn bench_shim_mbuf_bulk(mp: *mut rte_mempool, n: u64) -> u64 {
    let mut pkts = [std::ptr::null_mut::<rte_mbuf>(); BURST];
    let mut ok = 0;
    for _ in 0..n {
        // SAFETY: a live pool; the array has room for BURST, freed in full.
        unsafe {
            if sys::rte_pktmbuf_alloc_bulk(mp, pkts.as_mut_ptr(), BURST as u32) == 0 {
                ok += BURST as u64;
                sys::rte_pktmbuf_free_bulk(pkts.as_mut_ptr(), BURST as u32);
            }
        }
    }
    ok
}

fn start<'eal>(eal: &'eal Eal, pool: &Mempool<'eal>, name: &str) -> Port<'eal> {
    let mut p = Port::by_name(eal, name).expect("port");
    p.configure(&PortConfig::new(1, 1)).expect("configure");
    p.setup_rx_queue(0, 1024, None, pool).expect("rx queue");
    p.setup_tx_queue(0, 1024, None).expect("tx queue");
    p.start().expect("start");
    p
}

fn pair<'p, 'eal>(a: &'p Port<'eal>, b: &'p Port<'eal>) -> Pair<'p, 'eal> {
    Pair {
        rx_a: a.rx_queue(0).unwrap(),
        tx_a: a.tx_queue(0).unwrap(),
        rx_b: b.rx_queue(0).unwrap(),
        tx_b: b.tx_queue(0).unwrap(),
        burst: Burst::new(BURST).unwrap(),
    }
}

/// Puts `count` 64-byte frames on each port's ring (a `net_ring` port's TX is its RX).
fn seed(pool: &Mempool<'_>, ports: [&Port<'_>; 2], count: usize) {
    for port in ports {
        let mut tx = port.tx_queue(0).unwrap();
        let mut burst = Burst::new(BURST).unwrap();
        let mut left = count;
        while left > 0 {
            let n = left.min(BURST);
            pool.alloc_bulk(&mut burst, n).unwrap();
            for m in burst.as_mut_slice() {
                m.append(64).unwrap().fill(0x5a);
            }
            left -= n;
            while !burst.is_empty() {
                tx.tx_burst(&mut burst);
            }
        }
    }
}

/// Mpps of one run of `kernel(n)`, which returns packets, and packets per round.
fn one_run(n: u64, kernel: &mut dyn FnMut(u64) -> u64) -> (f64, f64) {
    let t = Instant::now();
    let pkts = black_box(kernel(black_box(n)));
    let secs = t.elapsed().as_secs_f64();
    (pkts as f64 / secs / 1e6, pkts as f64 / n as f64)
}

/// The variants of one operation in rounds, taking turns (the machine is
/// shared: all see the same noise; which goes first rotates); for each, best
/// and median Mpps and packets per round.
fn contest(
    rounds: usize,
    n: u64,
    kernels: &mut [&mut dyn FnMut(u64) -> u64],
) -> Vec<(f64, f64, f64)> {
    for k in kernels.iter_mut() {
        k(n / 10 + 1);
    }
    let count = kernels.len();
    let mut mpps = vec![Vec::new(); count];
    let mut per_round = vec![0.0; count];
    for round in 0..rounds {
        for step in 0..count {
            let i = (round + step) % count;
            let (m, p) = one_run(n, &mut *kernels[i]);
            mpps[i].push(m);
            per_round[i] = p;
        }
    }
    mpps.into_iter()
        .zip(per_round)
        .map(|(mut v, p)| {
            v.sort_by(|a, b| a.partial_cmp(b).unwrap());
            (v[v.len() - 1], v[v.len() / 2], p)
        })
        .collect()
}

/// Packets per second `dpdk-testpmd --forward-mode=io` forwards on `vdevs`,
/// from its own port statistics over a few seconds; None when not installed.
fn testpmd(vdevs: &[&str], tx_first: bool) -> Option<f64> {
    let exe = ["/usr/bin/dpdk-testpmd", "/usr/local/bin/dpdk-testpmd"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())?;
    let mut cmd = Command::new(exe);
    cmd.args([
        "-l",
        "0,1",
        "--no-pci",
        "--no-huge",
        "-m",
        "512",
        "--no-shconf",
    ]);
    for v in vdevs {
        cmd.args(["--vdev", v]);
    }
    cmd.args([
        "--",
        "--forward-mode=io",
        "--nb-cores=1",
        "--total-num-mbufs=8192",
        "--stats-period=1",
        "--auto-start",
    ]);
    if tx_first {
        cmd.arg("--tx-first");
    }
    let empty = std::env::temp_dir().join("dpdk-rs-empty-pci-tree");
    std::fs::create_dir_all(&empty).ok()?;
    let mut child = cmd
        .env("SYSFS_PCI_DEVICES", &empty)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    std::thread::sleep(Duration::from_secs(6));
    let _ = child.kill();
    let out = child.wait_with_output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    // Each period prints, per port, "Rx-pps: N"; the last periods are steady.
    let pps: Vec<f64> = text
        .lines()
        .filter_map(|l| l.split("Rx-pps:").nth(1))
        .filter_map(|r| r.split_whitespace().next()?.parse().ok())
        .collect();
    if pps.len() < 4 {
        return None;
    }
    // Two ports per period: the last two periods' sums, the best of them.
    let sums: Vec<f64> = pps
        .chunks(2)
        .filter(|c| c.len() == 2)
        .map(|c| c[0] + c[1])
        .collect();
    sums.iter()
        .rev()
        .take(3)
        .cloned()
        .reduce(f64::max)
        .map(|p| p / 1e6)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let kernels_n = (args.get(1).map(String::as_str) == Some("--kernels"))
        .then(|| args[2].parse::<u64>().expect("trip count"));
    let label = args
        .iter()
        .position(|a| a == "--label")
        .and_then(|i| args.get(i + 1))
        .map_or("no LTO", String::as_str)
        .to_owned();
    let no_testpmd = args.iter().any(|a| a == "--no-testpmd");
    let eal = EalBuilder::new()
        .program_name("bench-forwarding")
        .lcores([0])
        .no_huge(512 << 20)
        .no_shconf()
        .no_pci()
        .vdev("net_ring0")
        .vdev("net_ring1")
        .vdev("net_null0")
        .vdev("net_null1")
        .log_level(LogLevel::Error)
        .init()
        .expect("EAL");
    let pool = Mempool::new(&eal, &MempoolConfig::new("fwd", 16383)).expect("pool");
    let mut single_pool_cfg = MempoolConfig::new("alloc", 4095);
    single_pool_cfg.cache = 256;
    let alloc_pool = Mempool::new(&eal, &single_pool_cfg).expect("pool");
    let (r0, r1) = (
        start(&eal, &pool, "net_ring0"),
        start(&eal, &pool, "net_ring1"),
    );
    let (n0, n1) = (
        start(&eal, &pool, "net_null0"),
        start(&eal, &pool, "net_null1"),
    );
    seed(&pool, [&r0, &r1], 512);
    let (ring_a, ring_b, null_a, null_b) = (r0.id(), r1.id(), n0.id(), n1.id());
    let mut ring = pair(&r0, &r1);
    let mut null = pair(&n0, &n1);
    let mut bulk_burst = Burst::new(BURST).unwrap();

    // SAFETY: the ports are started with their queues set up, and no Rust
    // queue handle polls while a C kernel runs (one thread).
    let c_ring = |n| unsafe { bench_c_io_fwd_ring(ring_a, ring_b, n) };
    // SAFETY: as above.
    let c_null = |n| unsafe { bench_c_io_fwd_null(null_a, null_b, n) };
    // SAFETY: as above, the queue ids given at run time (0: the only queue).
    let c_ring_q =
        |n| unsafe { bench_c_io_fwd_ring_queues(ring_a, black_box(0), ring_b, black_box(0), n) };
    // SAFETY: as above.
    let c_null_q =
        |n| unsafe { bench_c_io_fwd_null_queues(null_a, black_box(0), null_b, black_box(0), n) };
    // SAFETY: as above.
    let shim_ring =
        |n| unsafe { bench_shim_io_fwd_ring(ring_a, black_box(0), ring_b, black_box(0), n) };
    // SAFETY: as above.
    let shim_null =
        |n| unsafe { bench_shim_io_fwd_null(null_a, black_box(0), null_b, black_box(0), n) };
    // SAFETY: the pool is a live packet pool; every mbuf taken is freed.
    let c_single = |n| unsafe { bench_c_mbuf_single(alloc_pool.as_ptr(), n) };
    // SAFETY: as above.
    let c_bulk = |n| unsafe { bench_c_mbuf_bulk(alloc_pool.as_ptr(), n) };
    // SAFETY: as above.
    let shim_single = |n| unsafe { bench_shim_mbuf_single(alloc_pool.as_ptr(), n) };
    // SAFETY: as above.
    let shim_bulk = |n| unsafe { bench_shim_mbuf_bulk(alloc_pool.as_ptr(), n) };

    if let Some(n) = kernels_n {
        black_box(c_ring(n));
        black_box(c_ring_q(n));
        black_box(bench_rust_io_fwd_ring(&mut ring, n));
        black_box(shim_ring(n));
        black_box(c_null(n));
        black_box(c_null_q(n));
        black_box(bench_rust_io_fwd_null(&mut null, n));
        black_box(shim_null(n));
        black_box(c_single(n));
        black_box(bench_rust_mbuf_single(&alloc_pool, n));
        black_box(shim_single(n));
        black_box(c_bulk(n));
        black_box(bench_rust_mbuf_bulk(&alloc_pool, &mut bulk_burst, n));
        black_box(shim_bulk(n));
        return;
    }

    let group = format!("dataplane[{label}]");
    let rounds = 15;
    let n = 200_000;
    let mut rows = Vec::new();
    let mut record = |what: &str, variants: &[&str], res: Vec<(f64, f64, f64)>| {
        for (side, (best, median, per_round)) in variants.iter().zip(&res) {
            let name = format!("{what}|{side}");
            emit(&group, &name, "mpps_best", *best);
            emit(&group, &name, "mpps_median", *median);
            emit(&group, &name, "pkts_per_round", *per_round);
            rows.push((name, *best));
        }
        res.iter().map(|r| r.2).collect::<Vec<_>>()
    };
    let ring_rounds = record(
        "io fwd net_ring",
        &FWD_VARIANTS,
        contest(
            rounds,
            n,
            &mut [
                &mut |k| c_ring(k),
                &mut |k| c_ring_q(k),
                &mut |k| bench_rust_io_fwd_ring(&mut ring, k),
                &mut |k| shim_ring(k),
            ],
        ),
    );
    let null_rounds = record(
        "io fwd net_null",
        &FWD_VARIANTS,
        contest(
            rounds,
            n,
            &mut [
                &mut |k| c_null(k),
                &mut |k| c_null_q(k),
                &mut |k| bench_rust_io_fwd_null(&mut null, k),
                &mut |k| shim_null(k),
            ],
        ),
    );
    record(
        "mbuf alloc+free single",
        &MBUF_VARIANTS,
        contest(
            rounds,
            n,
            &mut [
                &mut |k| c_single(k),
                &mut |k| bench_rust_mbuf_single(&alloc_pool, k),
                &mut |k| shim_single(k),
            ],
        ),
    );
    record(
        "mbuf alloc+free bulk 32",
        &MBUF_VARIANTS,
        contest(
            rounds,
            n,
            &mut [
                &mut |k| c_bulk(k),
                &mut |k| bench_rust_mbuf_bulk(&alloc_pool, &mut bulk_burst, k),
                &mut |k| shim_bulk(k),
            ],
        ),
    );
    assert!(
        ring_rounds.iter().all(|&p| p == 64.0),
        "the ring pair forwards full bursts both ways: {ring_rounds:?}"
    );
    assert!(
        null_rounds.iter().all(|&p| p == 64.0),
        "net_null fills every burst: {null_rounds:?}"
    );
    print_table(
        &format!("data plane ({label}): million packets per second (best of {rounds}, the variants taking turns)"),
        "Mpps",
        &rows,
    );
    let best = |k: &str| rows.iter().find(|(n, _)| n == k).map(|r| r.1);
    for what in OPERATIONS {
        for side in ["Rust", "Rust through the shim"] {
            if let (Some(c), Some(r)) =
                (best(&format!("{what}|C")), best(&format!("{what}|{side}")))
            {
                println!("{what}: {side}/C Mpps = {:.3} (target >= 0.98)", r / c);
            }
        }
    }

    if have_valgrind() {
        let kernels = [
            ("io fwd net_ring", "C", "bench_c_io_fwd_ring", 64.0),
            (
                "io fwd net_ring",
                "C, queues at run time",
                "bench_c_io_fwd_ring_queues",
                64.0,
            ),
            ("io fwd net_ring", "Rust", "bench_rust_io_fwd_ring", 64.0),
            (
                "io fwd net_ring",
                "Rust through the shim",
                "bench_shim_io_fwd_ring",
                64.0,
            ),
            ("io fwd net_null", "C", "bench_c_io_fwd_null", 64.0),
            (
                "io fwd net_null",
                "C, queues at run time",
                "bench_c_io_fwd_null_queues",
                64.0,
            ),
            ("io fwd net_null", "Rust", "bench_rust_io_fwd_null", 64.0),
            (
                "io fwd net_null",
                "Rust through the shim",
                "bench_shim_io_fwd_null",
                64.0,
            ),
            ("mbuf alloc+free single", "C", "bench_c_mbuf_single", 1.0),
            (
                "mbuf alloc+free single",
                "Rust",
                "bench_rust_mbuf_single",
                1.0,
            ),
            (
                "mbuf alloc+free single",
                "Rust through the shim",
                "bench_shim_mbuf_single",
                1.0,
            ),
            ("mbuf alloc+free bulk 32", "C", "bench_c_mbuf_bulk", 32.0),
            (
                "mbuf alloc+free bulk 32",
                "Rust",
                "bench_rust_mbuf_bulk",
                32.0,
            ),
            (
                "mbuf alloc+free bulk 32",
                "Rust through the shim",
                "bench_shim_mbuf_bulk",
                32.0,
            ),
        ];
        let names: Vec<&str> = kernels.iter().map(|k| k.2).collect();
        let counts = callgrind_per_iter(
            |k| vec!["--kernels".into(), k.to_string()],
            &names,
            2000,
            12000,
        );
        let mut rows = Vec::new();
        for (what, side, sym, pkts_per_iter) in kernels {
            if let Some(ir) = counts.get(sym) {
                let per_pkt = ir / pkts_per_iter;
                let name = format!("{what}|{side}");
                emit(&group, &name, "ir_per_pkt", per_pkt);
                rows.push((name, per_pkt));
            }
        }
        print_table(
            &format!("data plane ({label}): instructions per packet (callgrind)"),
            "Ir/packet",
            &rows,
        );
        let get = |k: String| rows.iter().find(|(n, _)| *n == k).map(|r| r.1);
        for what in OPERATIONS {
            for side in ["C, queues at run time", "Rust", "Rust through the shim"] {
                match (get(format!("{what}|C")), get(format!("{what}|{side}"))) {
                    (Some(c), Some(r)) => println!(
                        "{what}: {side}/C instructions per packet = {:.3} (target for Rust <= 1.05 without LTO, <= 1.0 with)",
                        r / c
                    ),
                    _ if side.starts_with('C') && what.starts_with("mbuf") => {}
                    _ => println!("{what}: {side}: instructions per packet not counted (a kernel symbol is missing)"),
                }
            }
        }
    }
    drop((ring, null, bulk_burst));
    drop((r0, r1, n0, n1));

    if !no_testpmd && label == "no LTO" {
        // The outside reference: DPDK's own forwarder, one forwarding lcore.
        for (name, vdevs, tx_first) in [
            (
                "io fwd net_ring|dpdk-testpmd",
                ["net_ring0", "net_ring1"],
                true,
            ),
            (
                "io fwd net_null|dpdk-testpmd",
                ["net_null0", "net_null1"],
                false,
            ),
        ] {
            match testpmd(&vdevs, tx_first) {
                Some(m) => {
                    emit(&group, name, "mpps_best", m);
                    println!("{name}: {m:.2} Mpps (testpmd's own Rx-pps, both ports)");
                }
                None => println!("{name}: dpdk-testpmd not run (not installed, or no statistics)"),
            }
        }
    }
}
