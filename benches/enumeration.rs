//! Enumeration at scale: how the cost of listing PCI devices grows from 16 to
//! 4096 fake devices, for DPDK's own scan and for this crate's enumeration of
//! the same tree. A program that prints figures (`cargo bench --bench
//! enumeration`), not a timed test.
//!
//! Per device count, a child process (DPDK starts once per process) starts an
//! EAL over the fake tree, then times DPDK's own scan of the tree again
//! (`rte_bus_scan`, which re-reads every device's sysfs files) and
//! `Eal::pci_devices()` (DPDK's bus iteration plus this crate's sysfs reads).

use std::process::Command;
use std::time::Instant;

use dpdk::eal::{Eal, LogLevel};
use dpdk::testing::{FakeDevice, FakePciTree, FLAGS_MEM32, FLAGS_MEM64_PREFETCH};

const SIZES: [usize; 5] = [16, 64, 256, 1024, 4096];
const ROUNDS: usize = 3;

fn child() {
    let builder = Eal::builder()
        .lcores([0])
        .no_huge(64 << 20)
        .no_shconf()
        .log_level(LogLevel::Error);
    let eal = builder.init().expect("EAL");
    let start = Instant::now();
    // SAFETY: the EAL runs; rescanning updates the devices already listed.
    let ret = unsafe { dpdk::sys::rte_bus_scan() };
    let scan = start.elapsed();
    assert_eq!(ret, 0, "rte_bus_scan");
    let start = Instant::now();
    let devices = eal
        .pci_devices()
        .collect::<Result<Vec<_>, _>>()
        .expect("enumeration");
    let enumerate = start.elapsed();
    println!(
        "RESULT {} {} {}",
        scan.as_nanos(),
        enumerate.as_nanos(),
        devices.len()
    );
}

fn run_child(tree: &FakePciTree) -> (f64, f64, usize) {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.env("DPDK_RS_BENCH_CHILD", "1")
        .env("SYSFS_PCI_DEVICES", tree.devices_dir());
    let out = cmd.output().expect("child");
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.starts_with("RESULT "))
        .unwrap_or_else(|| panic!("child failed: {text}"));
    let f: Vec<&str> = line.split_whitespace().collect();
    (
        f[1].parse::<f64>().unwrap() / 1e6,
        f[2].parse::<f64>().unwrap() / 1e6,
        f[3].parse().unwrap(),
    )
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

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() {
    if std::env::var_os("DPDK_RS_BENCH_CHILD").is_some() {
        return child();
    }
    println!("enumeration of fake PCI trees (median of {ROUNDS} runs, milliseconds)\n");
    println!("| devices | DPDK scan (rte_bus_scan) | crate enumeration | enumeration / scan | scan per device (us) | enumeration per device (us) |");
    println!("|---:|---:|---:|---:|---:|---:|");
    let mut first: Option<(f64, f64)> = None;
    let mut last = (0.0, 0.0);
    for n in SIZES {
        let tree = tree_of(n);
        let (mut scans, mut enums) = (Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            let (scan, enumerate, count) = run_child(&tree);
            assert_eq!(count, n, "every fake device enumerated");
            scans.push(scan);
            enums.push(enumerate);
        }
        let (scan, enumerate) = (median(scans), median(enums));
        println!(
            "| {n} | {scan:.2} | {enumerate:.2} | {:.2} | {:.1} | {:.1} |",
            enumerate / scan,
            scan * 1e3 / n as f64,
            enumerate * 1e3 / n as f64
        );
        first.get_or_insert((scan, enumerate));
        last = (scan, enumerate);
    }
    let (f, l) = (first.unwrap(), last);
    let size_ratio = (SIZES[SIZES.len() - 1] / SIZES[0]) as f64;
    println!(
        "\ngrowth from {} to {} devices ({size_ratio:.0}x): DPDK scan {:.1}x, crate enumeration {:.1}x",
        SIZES[0],
        SIZES[SIZES.len() - 1],
        l.0 / f.0,
        l.1 / f.1
    );
}
