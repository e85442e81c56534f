//! Enumeration at scale, Rust against C in one run: DPDK's own scan of a fake
//! PCI tree (`rte_bus_scan`, called from C; it re-reads every device's sysfs
//! files) against this crate's enumeration of the same tree
//! (`Eal::pci_devices()`: DPDK's bus iteration plus this crate's sysfs reads),
//! for 16 to 4096 devices, with the growth from the smallest to the largest.
//!
//! Per device count, child processes (DPDK starts once per process) start an EAL
//! with `SYSFS_PCI_DEVICES` pointing at the fake tree, so `rte_eal_init` scans
//! it; then each child times `REPEAT` alternating rounds of the C scan and the
//! crate's enumeration, keeping the minimum of each; the figure is the minimum
//! over the processes. The trees are built on tmpfs (`/dev/shm`) unless
//! `TMPDIR` says otherwise.
//!
//! Wall time of file operations on a tree of tens of thousands of files depends
//! on the kernel's caches, so, when valgrind is installed, the instructions
//! both sides execute in user space are counted too (callgrind; they repeat to
//! within about 1.5% between runs):
//! for 16, 256 and 4096 devices a child process starts the EAL on the tree,
//! then calls the C scan (`bench_c_bus_scan`) and the crate's enumeration
//! (`bench_rust_enumerate`) once each; callgrind collects inside these two
//! functions only (`--toggle-collect`), so the EAL's start is not counted.
//! `--callgrind-only` runs just that part.

use std::process::Command;
use std::time::Instant;

use dpdk::testing::{FakeDevice, FakePciTree, FLAGS_MEM32, FLAGS_MEM64_PREFETCH};
use dpdk::{BarIndex, Eal, LogLevel};
use dpdk_benches::*;

const SIZES: [usize; 5] = [16, 64, 256, 1024, 4096];
/// The sizes whose enumeration is also counted under callgrind.
const CALLGRIND_SIZES: [usize; 3] = [16, 256, 4096];
const CHILDREN: usize = 3;
const REPEAT: usize = 5;

/// The functions whose instructions callgrind counts.
const COUNTED: [&str; 2] = ["bench_c_bus_scan", "bench_rust_enumerate"];

/// The crate's enumeration, out of line so that callgrind can count it
/// (inclusive of all it calls). The devices are returned, so that freeing them
/// is not part of it.
#[no_mangle]
#[inline(never)]
pub fn bench_rust_enumerate(eal: &Eal) -> Vec<dpdk::PciDevice> {
    eal.pci_devices()
        .collect::<Result<Vec<_>, _>>()
        .expect("enumeration")
}

/// Starts the EAL; `SYSFS_PCI_DEVICES` (set by the parent) points its PCI scan
/// at the fake tree.
fn start_eal() -> Eal {
    Eal::builder()
        .lcores([0])
        .no_huge(64 << 20)
        .no_shconf()
        .log_level(LogLevel::Error)
        .init()
        .expect("EAL")
}

/// The child run under callgrind: each counted function once, after a warm-up
/// of the enumeration outside them (the EAL's start has run DPDK's scan).
fn callgrind_child() {
    let eal = start_eal();
    let warm = eal.pci_devices().count();
    // SAFETY: the EAL runs; rescanning updates the devices already listed.
    let ret = unsafe { bench_c_bus_scan() };
    assert_eq!(ret, 0, "rte_bus_scan");
    let devices = bench_rust_enumerate(&eal);
    assert_eq!(devices.len(), warm, "every device enumerated");
    println!("CHILD {}", devices.len());
}

/// Instructions (callgrind's inclusive `Ir`) of DPDK's scan and of the crate's
/// enumeration of `tree`, in a child under callgrind: (scan, enumeration).
fn instructions(tree: &FakePciTree) -> Option<(f64, f64)> {
    let counts = callgrind_inclusive(
        &[],
        &[
            ("DPDK_RS_BENCH_CHILD", "callgrind".as_ref()),
            ("SYSFS_PCI_DEVICES", tree.devices_dir().as_os_str()),
        ],
        &COUNTED,
        true,
    );
    Some((*counts.get(COUNTED[0])?, *counts.get(COUNTED[1])?))
}

fn child() {
    let eal = start_eal();
    let (mut scan, mut enumerate, mut walk) = (f64::MAX, f64::MAX, f64::MAX);
    let mut count = 0;
    for _ in 0..REPEAT {
        let start = Instant::now();
        // SAFETY: the EAL runs; rescanning updates the devices already listed.
        let ret = unsafe { bench_c_bus_scan() };
        scan = scan.min(start.elapsed().as_nanos() as f64);
        assert_eq!(ret, 0, "rte_bus_scan");
        let start = Instant::now();
        // SAFETY: the EAL runs; the C walk only reads DPDK's device list.
        let c_count = unsafe { bench_c_count_pci() };
        walk = walk.min(start.elapsed().as_nanos() as f64);
        let start = Instant::now();
        let devices = bench_rust_enumerate(&eal);
        enumerate = enumerate.min(start.elapsed().as_nanos() as f64);
        count = devices.len();
        assert_eq!(c_count as usize, count, "C and Rust see the same devices");
    }
    println!("CHILD {scan} {enumerate} {walk} {count}");
}

fn run_child(tree: &FakePciTree) -> (f64, f64, f64, usize) {
    let out = Command::new(std::env::current_exe().unwrap())
        .env("DPDK_RS_BENCH_CHILD", "1")
        .env("SYSFS_PCI_DEVICES", tree.devices_dir())
        .output()
        .expect("child");
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.starts_with("CHILD "))
        .unwrap_or_else(|| {
            panic!(
                "child failed: {text}{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    let f: Vec<f64> = line
        .split_whitespace()
        .skip(1)
        .map(|v| v.parse().unwrap())
        .collect();
    (f[0] / 1e6, f[1] / 1e6, f[2] / 1e6, f[3] as usize)
}

fn tree_of(n: usize) -> FakePciTree {
    let tree = FakePciTree::new().unwrap();
    for i in 0..n {
        let (bus, dev, func) = ((i / 256) as u8, ((i / 8) % 32) as u8, (i % 8) as u8);
        let addr = dpdk::PciAddress::new(0, bus, dev, func);
        tree.add(
            &FakeDevice::new(addr)
                .ids(0x1234, 0x1000 + (i % 16) as u16)
                .iommu_group(Some(i as u32))
                .bar(
                    BarIndex::BAR0,
                    0xf000_0000 + (i as u64) * 0x10000,
                    0x1000,
                    FLAGS_MEM32,
                )
                .bar(
                    BarIndex::BAR2,
                    0x80_0000_0000 + (i as u64) * 0x100000,
                    0x100000,
                    FLAGS_MEM64_PREFETCH,
                ),
        )
        .unwrap();
    }
    tree
}

fn main() {
    match std::env::var("DPDK_RS_BENCH_CHILD").as_deref() {
        Ok("callgrind") => return callgrind_child(),
        Ok(_) => return child(),
        Err(_) => {}
    }
    let callgrind_only = std::env::args().nth(1).as_deref() == Some("--callgrind-only");
    // sysfs lives in memory: build the trees on tmpfs when there is one, so that
    // both sides read from the page cache, not from a disk's journal.
    if std::env::var_os("TMPDIR").is_none() && std::path::Path::new("/dev/shm").is_dir() {
        std::env::set_var("TMPDIR", "/dev/shm");
    }
    if callgrind_only {
        return count_instructions(tree_of);
    }
    println!(
        "enumeration of fake PCI trees under {}: best of {REPEAT} rounds in each of {CHILDREN} processes, milliseconds\n",
        std::env::temp_dir().display()
    );
    println!("| devices | DPDK scan (rte_bus_scan from C) | crate enumeration (pci_devices) | enumeration / scan | C walk of DPDK's list | scan per device (us) | enumeration per device (us) |");
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    let mut first: Option<(f64, f64)> = None;
    let mut last = (0.0, 0.0);
    for n in SIZES {
        let tree = tree_of(n);
        let (mut scans, mut enums, mut walks) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..CHILDREN {
            let (scan, enumerate, walk, count) = run_child(&tree);
            assert_eq!(count, n, "every fake device enumerated");
            scans.push(scan);
            enums.push(enumerate);
            walks.push(walk);
        }
        let (scan, enumerate, walk) = (
            min_median(scans).0,
            min_median(enums).0,
            min_median(walks).0,
        );
        let name = n.to_string();
        emit("enumeration", &name, "scan_ms", scan);
        emit("enumeration", &name, "enumerate_ms", enumerate);
        emit("enumeration", &name, "c_walk_ms", walk);
        println!(
            "| {n} | {scan:.3} | {enumerate:.3} | {:.2} | {walk:.4} | {:.2} | {:.2} |",
            enumerate / scan,
            scan * 1e3 / n as f64,
            enumerate * 1e3 / n as f64
        );
        first.get_or_insert((scan, enumerate));
        last = (scan, enumerate);
    }
    let (f, l) = (first.unwrap(), last);
    let size_ratio = (SIZES[SIZES.len() - 1] / SIZES[0]) as f64;
    emit("enumeration_growth", "scan", "x", l.0 / f.0);
    emit("enumeration_growth", "enumerate", "x", l.1 / f.1);
    emit("enumeration_growth", "devices", "x", size_ratio);
    println!(
        "\ngrowth from {} to {} devices ({size_ratio:.0}x): DPDK scan {:.1}x, crate enumeration {:.1}x",
        SIZES[0],
        SIZES[SIZES.len() - 1],
        l.0 / f.0,
        l.1 / f.1
    );
    // Fresh trees, built again, so that none sat beside the timed ones.
    count_instructions(tree_of);
}

/// Counts the instructions of both sides for CALLGRIND_SIZES (when valgrind
/// is installed) and prints them per device, with the growth from the smallest
/// to the largest tree.
fn count_instructions(tree: impl Fn(usize) -> FakePciTree) {
    if !have_valgrind() {
        println!("\nvalgrind not installed: no instruction counts");
        return;
    }
    println!("\ninstructions in user space (callgrind, inclusive Ir of one call), per device\n");
    println!("| devices | DPDK scan Ir | crate enumeration Ir | scan Ir per device | enumeration Ir per device | enumeration / scan |");
    println!("|---:|---:|---:|---:|---:|---:|");
    let mut per_device = Vec::new();
    for n in CALLGRIND_SIZES {
        let tree = tree(n);
        let Some((scan, enumerate)) = instructions(&tree) else {
            println!("| {n} | callgrind found no counts | | | | |");
            continue;
        };
        let name = n.to_string();
        emit("enumeration_ir", &name, "scan_ir", scan);
        emit("enumeration_ir", &name, "enumerate_ir", enumerate);
        let d = n as f64;
        println!(
            "| {n} | {scan:.0} | {enumerate:.0} | {:.0} | {:.0} | {:.2} |",
            scan / d,
            enumerate / d,
            enumerate / scan
        );
        per_device.push((n, scan / d, enumerate / d));
    }
    // Growth compares two sizes: with one counted there is none to show.
    match per_device.as_slice() {
        [f, .., l] => println!(
            "\nIr per device at {} devices / at {}: DPDK scan {:.2}x, crate enumeration {:.2}x",
            l.0,
            f.0,
            l.1 / f.1,
            l.2 / f.2
        ),
        [only] => println!(
            "\nonly {} devices counted: no growth from one size (not judged)",
            only.0
        ),
        [] => {}
    }
}
