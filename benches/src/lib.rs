//! Shared parts of the benchmark programs: the C baseline's functions (built by
//! `build.rs` from `c/baseline.c`), timing, callgrind instruction counts and the
//! `RESULT` lines that `tools/bench.sh` collects and `bench-report` turns into
//! tables and plots.
//!
//! A result line is `RESULT<TAB>group<TAB>name<TAB>metric<TAB>value`.

use std::collections::HashMap;
use std::ffi::{c_char, c_int};
use std::process::Command;
use std::time::Instant;

// The C baseline (c/baseline.c). Pointers are to mappings or buffers the
// callers keep alive; see each benchmark for the contract it upholds.
extern "C" {
    /// Sums `n` volatile 32-bit loads at `base + 0x40`; `base` must be readable there.
    pub fn bench_c_read32_const(base: *const u8, n: u64) -> u32;
    /// Sums `n` volatile 32-bit loads at `base + ((i & 63) << 2)`, over 256 readable bytes at
    /// `base`.
    pub fn bench_c_read32_var(base: *const u8, n: u64) -> u32;
    /// Stores `i` with `n` volatile 32-bit stores at `base + 0x40`; `base` must be writable there.
    pub fn bench_c_write32_const(base: *mut u8, n: u64);
    /// Stores `i` with `n` volatile 32-bit stores at `base + ((i & 63) << 2)`, over 256 writable
    /// bytes.
    pub fn bench_c_write32_var(base: *mut u8, n: u64);
    /// Sums `n` 4-byte `pread64`s of `fd` at `region_offset + ((i & 63) << 2)`; 0 if one fails.
    pub fn bench_c_pread32(fd: c_int, region_offset: i64, n: u64) -> u32;
    /// Makes `n` 4-byte `pwrite64`s of `i` to `fd` at `region_offset + ((i & 63) << 2)`; returns
    /// `n`, or 0 if one fails.
    pub fn bench_c_pwrite32(fd: c_int, region_offset: i64, n: u64) -> u64;
    /// Reads `len` bytes of `fd` at `region_offset` into `buf`, `n` times; returns 0, or -1 at
    /// the first short or failed read.
    pub fn bench_c_pread_bulk(
        fd: c_int,
        region_offset: i64,
        buf: *mut u8,
        len: usize,
        n: u64,
    ) -> c_int;
    /// Sums `rte_lcore_id()` over `n` calls, with a compiler barrier between them.
    pub fn bench_c_lcore_id(n: u64) -> u64;
    /// Sums `rte_rdtsc()` over `n` calls, with a compiler barrier between them.
    pub fn bench_c_rdtsc(n: u64) -> u64;
    /// Calls `rte_eal_init(argc, argv)` and returns its result.
    pub fn bench_c_eal_init(argc: c_int, argv: *mut *mut c_char) -> c_int;
    /// Calls `rte_bus_scan()` (DPDK re-reads every device's sysfs files) and returns its result.
    pub fn bench_c_bus_scan() -> c_int;
    /// Counts the devices on DPDK's PCI bus with a device iterator, as a C program would.
    pub fn bench_c_count_pci() -> c_int;
    /// io forwarding in C over two net_ring ports: `n` rounds of a burst of 32
    /// from `a` to `b` and back, the unsent freed; returns the packets received.
    pub fn bench_c_io_fwd_ring(a: u16, b: u16, n: u64) -> u64;
    /// The same forwarding loop in C over two net_null ports (a symbol of its
    /// own, so callgrind counts the two drivers apart).
    pub fn bench_c_io_fwd_null(a: u16, b: u16, n: u64) -> u64;
    /// [`bench_c_io_fwd_ring`] with the queue ids given at run time.
    pub fn bench_c_io_fwd_ring_queues(a: u16, qa: u16, b: u16, qb: u16, n: u64) -> u64;
    /// [`bench_c_io_fwd_null`] with the queue ids given at run time.
    pub fn bench_c_io_fwd_null_queues(a: u16, qa: u16, b: u16, qb: u16, n: u64) -> u64;
    /// `n` single `rte_pktmbuf_alloc` + `rte_pktmbuf_free` from `mp`; returns
    /// the allocations that succeeded.
    pub fn bench_c_mbuf_single(mp: *mut dpdk::sys::rte_mempool, n: u64) -> u64;
    /// `n` bulk allocations of 32 from `mp`, each freed in bulk; returns the
    /// mbufs allocated.
    pub fn bench_c_mbuf_bulk(mp: *mut dpdk::sys::rte_mempool, n: u64) -> u64;
}

/// Prints one result line for the report.
pub fn emit(group: &str, name: &str, metric: &str, value: f64) {
    println!("RESULT\t{group}\t{name}\t{metric}\t{value}");
}

/// The minimum and the median of `v`.
pub fn min_median(mut v: Vec<f64>) -> (f64, f64) {
    v.sort_by(|a, b| a.total_cmp(b));
    (v[0], v[v.len() / 2])
}

/// Nanoseconds per iteration of `kernel(n)`, over `rounds` rounds: (min, median).
pub fn time_per_iter(rounds: usize, n: u64, mut kernel: impl FnMut(u64)) -> (f64, f64) {
    kernel(n.min(1000)); // warm up: page faults, caches
    let samples = (0..rounds)
        .map(|_| {
            let start = Instant::now();
            kernel(n);
            start.elapsed().as_nanos() as f64 / n as f64
        })
        .collect();
    min_median(samples)
}

/// Whether `valgrind` can be run.
pub fn have_valgrind() -> bool {
    Command::new("valgrind")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Inclusive instruction counts (callgrind's `Ir`) of the functions `names`,
/// for one run of this program under callgrind with `args` and the extra
/// environment `envs`. With `only_names`, callgrind collects inside those
/// functions only (`--toggle-collect`), which leaves their inclusive counts
/// as they are and skips the rest of the program (start-up, set-up).
pub fn callgrind_inclusive(
    args: &[String],
    envs: &[(&str, &std::ffi::OsStr)],
    names: &[&str],
    only_names: bool,
) -> HashMap<String, f64> {
    callgrind_dumps(args, envs, names, only_names, None)
        .pop()
        .expect("one profile")
}

/// [`callgrind_inclusive`], and with `dump_before`, callgrind also dumps (and
/// zeroes) its counts each time the program enters that function
/// (`--dump-before`): the counts of every part, in order.
fn callgrind_dumps(
    args: &[String],
    envs: &[(&str, &std::ffi::OsStr)],
    names: &[&str],
    only_names: bool,
    dump_before: Option<&str>,
) -> Vec<HashMap<String, f64>> {
    static RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let out_file = std::env::temp_dir().join(format!(
        "dpdk-bench-callgrind.{}.{}.{}",
        std::process::id(),
        RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        args.join("_").replace('/', "_")
    ));
    let exe = std::env::current_exe().expect("own path");
    let mut command = Command::new("valgrind");
    command
        .arg("--tool=callgrind")
        .arg(format!("--callgrind-out-file={}", out_file.display()));
    if only_names {
        command.args(names.iter().map(|n| format!("--toggle-collect={n}")));
    }
    if let Some(marker) = dump_before {
        command.arg(format!("--dump-before={marker}"));
    }
    let status = command
        .arg(exe)
        .args(args)
        .envs(envs.iter().copied())
        .output()
        .expect("valgrind");
    assert!(
        status.status.success(),
        "callgrind run failed: {}",
        String::from_utf8_lossy(&status.stderr)
    );
    // Dumps are OUT.1, OUT.2, ..., the rest of the run OUT.
    let mut files: Vec<std::path::PathBuf> = (1..)
        .map(|i| std::path::PathBuf::from(format!("{}.{i}", out_file.display())))
        .take_while(|f| f.exists())
        .collect();
    files.push(out_file);
    files
        .iter()
        .map(|file| {
            let counts = annotated_counts(file, names);
            let _ = std::fs::remove_file(file);
            counts
        })
        .collect()
}

/// The inclusive counts of `names` in the callgrind profile `file`.
fn annotated_counts(file: &std::path::Path, names: &[&str]) -> HashMap<String, f64> {
    let annotated = Command::new("callgrind_annotate")
        .args(["--inclusive=yes", "--threshold=100"])
        .arg(file)
        .output()
        .expect("callgrind_annotate");
    let text = String::from_utf8_lossy(&annotated.stdout);
    let mut counts = HashMap::new();
    for line in text.lines() {
        let line = line.trim_start();
        let Some((count, rest)) = line.split_once(' ') else {
            continue;
        };
        let Ok(count) = count.replace(',', "").parse::<f64>() else {
            continue;
        };
        for name in names {
            let hit = rest.split_whitespace().any(|word| {
                word.rsplit(':').next() == Some(*name) || word.ends_with(&format!("::{name}"))
            });
            if hit && !counts.contains_key(*name) {
                counts.insert((*name).to_owned(), count);
            }
        }
    }
    counts
}

/// Instructions per iteration of each kernel in `names`: this program runs
/// twice under callgrind, with `args(n1)` and `args(n2)`, each run calling every
/// kernel once with that trip count; the cost per iteration is the difference
/// of the kernels' inclusive counts divided by `n2 - n1`, which removes the
/// calls' and loops' set-up.
pub fn callgrind_per_iter(
    args: impl Fn(u64) -> Vec<String>,
    names: &[&str],
    n1: u64,
    n2: u64,
) -> HashMap<String, f64> {
    let a = callgrind_inclusive(&args(n1), &[], names, false);
    let b = callgrind_inclusive(&args(n2), &[], names, false);
    per_iter(&a, &b, names, n1, n2)
}

/// [`callgrind_per_iter`] from one run of this program under callgrind with
/// `args`, which runs every kernel once with trip count `n1`, then calls the
/// function `marker`, then runs every kernel once with `n2`: callgrind dumps
/// its counts on entering `marker` (`--dump-before`), so the two parts are
/// counted apart. Collects inside the kernels only (`--toggle-collect`). Half
/// the set-up of two runs, for when the set-up is slow (an EAL start under
/// valgrind under QEMU's emulation).
pub fn callgrind_per_iter_one_run(
    args: &[String],
    names: &[&str],
    marker: &str,
    n1: u64,
    n2: u64,
) -> HashMap<String, f64> {
    let parts = callgrind_dumps(args, &[], names, true, Some(marker));
    assert_eq!(
        parts.len(),
        2,
        "callgrind: one dump before {marker}, then the rest"
    );
    let (a, b) = (&parts[0], &parts[1]);
    per_iter(a, b, names, n1, n2)
}

/// Instructions per iteration of each kernel in `names`, from its counts with
/// trip counts `n1` (in `a`) and `n2` (in `b`): set-up and call cost cancel out.
fn per_iter(
    a: &HashMap<String, f64>,
    b: &HashMap<String, f64>,
    names: &[&str],
    n1: u64,
    n2: u64,
) -> HashMap<String, f64> {
    names
        .iter()
        .filter_map(|name| {
            let (x, y) = (a.get(*name)?, b.get(*name)?);
            Some(((*name).to_owned(), (y - x) / (n2 - n1) as f64))
        })
        .collect()
}

/// Prints a markdown table of `rows` (name, value) with ratios to `rows[0]`.
pub fn print_table(title: &str, unit: &str, rows: &[(String, f64)]) {
    let base = rows.first().map_or(1.0, |r| r.1);
    println!("\n{title}\n");
    println!(
        "| variant | {unit} | ratio to {} |",
        rows.first().map_or("", |r| &r.0)
    );
    println!("|---|---:|---:|");
    for (name, v) in rows {
        println!("| {name} | {v:.2} | {:.2} |", v / base);
    }
}
