//! The cost of a DPDK static inline function called from Rust through the shim
//! (bindgen's `wrap_static_fns` wrappers, compiled by `cc` into dpdk-sys)
//! against the same function inlined into C. `tools/bench.sh` builds this
//! program twice: as is, and with cross-language LTO (`-Clinker-plugin-lto`
//! with the shim and the baseline compiled by clang to LLVM bitcode), where the
//! wrapper can be inlined into Rust. `--label NAME` names the build in the
//! results; `--kernels N` runs each kernel once (the callgrind runs).

use std::hint::black_box;
use std::sync::atomic::{compiler_fence, Ordering};

use dpdk_benches::*;

/// Sums `dpdk::sys::rte_lcore_id()` over `n` calls, with a compiler fence between them (the Rust
/// side of `bench_c_lcore_id`).
#[no_mangle]
#[inline(never)]
pub fn bench_rust_lcore_id(n: u64) -> u64 {
    let mut acc = 0u64;
    for _ in 0..n {
        // SAFETY: rte_lcore_id only reads this thread's per-lcore variable.
        acc = acc.wrapping_add(u64::from(unsafe { dpdk::sys::rte_lcore_id() }));
        // As in C: a compiler barrier, so that an inlined call is not hoisted.
        compiler_fence(Ordering::SeqCst);
    }
    acc
}

/// Sums `dpdk::sys::rte_rdtsc()` over `n` calls, with a compiler fence between them (the Rust side
/// of `bench_c_rdtsc`).
#[no_mangle]
#[inline(never)]
pub fn bench_rust_rdtsc(n: u64) -> u64 {
    let mut acc = 0u64;
    for _ in 0..n {
        // SAFETY: rte_rdtsc only reads the time-stamp counter.
        acc = acc.wrapping_add(unsafe { dpdk::sys::rte_rdtsc() });
        compiler_fence(Ordering::SeqCst);
    }
    acc
}

type Kernel = (&'static str, &'static str, &'static str, fn(u64) -> u64);

fn c_lcore_id(n: u64) -> u64 {
    // SAFETY: the C loop only reads this thread's per-lcore variable.
    unsafe { bench_c_lcore_id(n) }
}

fn c_rdtsc(n: u64) -> u64 {
    // SAFETY: the C loop only reads the time-stamp counter.
    unsafe { bench_c_rdtsc(n) }
}

const KERNELS: [Kernel; 4] = [
    ("rte_lcore_id", "C, inlined", "bench_c_lcore_id", c_lcore_id),
    (
        "rte_lcore_id",
        "Rust through the shim",
        "bench_rust_lcore_id",
        bench_rust_lcore_id,
    ),
    ("rte_rdtsc", "C, inlined", "bench_c_rdtsc", c_rdtsc),
    (
        "rte_rdtsc",
        "Rust through the shim",
        "bench_rust_rdtsc",
        bench_rust_rdtsc,
    ),
];

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--kernels") {
        let n = args[2].parse().expect("trip count");
        for (_, _, _, f) in KERNELS {
            black_box(f(black_box(n)));
        }
        return;
    }
    let label = args
        .iter()
        .position(|a| a == "--label")
        .and_then(|i| args.get(i + 1))
        .map_or("no LTO", String::as_str);
    let group = format!("shim[{label}]");
    let mut rows = Vec::new();
    for (func, variant, _, f) in KERNELS {
        let (min, median) = time_per_iter(7, 2_000_000, |n| {
            black_box(f(black_box(n)));
        });
        let name = format!("{func}|{variant}");
        emit(&group, &name, "ns_min", min);
        emit(&group, &name, "ns_median", median);
        rows.push((name, min));
    }
    print_table(
        &format!("static inline functions ({label})"),
        "ns/call (min)",
        &rows,
    );
    if have_valgrind() {
        let symbols: Vec<&str> = KERNELS.iter().map(|k| k.2).collect();
        let counts = callgrind_per_iter(
            |n| vec!["--kernels".into(), n.to_string()],
            &symbols,
            1000,
            21000,
        );
        let mut rows = Vec::new();
        for (func, variant, symbol, _) in KERNELS {
            if let Some(ir) = counts.get(symbol) {
                let name = format!("{func}|{variant}");
                emit(&group, &name, "ir", *ir);
                rows.push((name, *ir));
            }
        }
        print_table(
            &format!("static inline functions ({label}): instructions per call (callgrind)"),
            "Ir/call",
            &rows,
        );
    }
}
