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

use std::process::Command;
use std::time::Instant;

use dpdk::eal::{Eal, LogLevel};
use dpdk::testing::{FakeDevice, FakePciTree, FLAGS_MEM32, FLAGS_MEM64_PREFETCH};
use dpdk_benches::*;

const SIZES: [usize; 5] = [16, 64, 256, 1024, 4096];
const CHILDREN: usize = 3;
const REPEAT: usize = 5;

fn child() {
    let eal = Eal::builder()
        .lcores([0])
        .no_huge(64 << 20)
        .no_shconf()
        .log_level(LogLevel::Error)
        .init()
        .expect("EAL");
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
        let devices = eal
            .pci_devices()
            .collect::<Result<Vec<_>, _>>()
            .expect("enumeration");
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
        let addr = dpdk::pci::PciAddress::new(0, bus, dev, func).unwrap();
        tree.add(
            &FakeDevice::new(addr)
                .ids(0x1234, 0x1000 + (i % 16) as u16)
                .iommu_group(Some(i as u32))
                .bar(0, 0xf000_0000 + (i as u64) * 0x10000, 0x1000, FLAGS_MEM32)
                .bar(
                    2,
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
    if std::env::var_os("DPDK_RS_BENCH_CHILD").is_some() {
        return child();
    }
    // sysfs lives in memory: build the trees on tmpfs when there is one, so that
    // both sides read from the page cache, not from a disk's journal.
    if std::env::var_os("TMPDIR").is_none() && std::path::Path::new("/dev/shm").is_dir() {
        std::env::set_var("TMPDIR", "/dev/shm");
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
}
