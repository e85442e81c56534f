//! Per-access cost of the two BAR paths, side by side in one run: `pread64`/
//! `pwrite64` (`RegionIo`) against a mapping (`MappedRegion`, run-time checked,
//! and `FixedMapping`, checked at compile time), with a raw volatile load as the
//! floor. A program that prints figures, not a timed test.
//!
//! * `cargo bench --bench bar_access`: on the host, over a memfd standing in for
//!   a VFIO device fd.
//! * `tools/vm-bench.sh`: in the VM, over ivshmem's BAR2 (RAM behind the BAR)
//!   and edu's BAR0 (emulated registers: every access traps to QEMU).

use std::hint::black_box;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::time::Instant;

use dpdk::vfio::{RegionFlags, RegionIndex, RegionInfo, RegionIo, Registers};

/// Nanoseconds per call of `f`, best of 5 rounds of `n` calls.
fn per_access(n: u32, mut f: impl FnMut(u64) -> u32) -> f64 {
    let mut best = f64::MAX;
    for _ in 0..5 {
        let start = Instant::now();
        let mut acc = 0u32;
        for i in 0..n {
            acc = acc.wrapping_add(f(u64::from(i % 64) * 4));
        }
        black_box(acc);
        best = best.min(start.elapsed().as_nanos() as f64 / f64::from(n));
    }
    best
}

fn report(title: &str, rows: &[(&str, f64)]) {
    let base = rows[0].1;
    println!("\n{title}");
    println!("| path | ns/access | ratio to {} |", rows[0].0);
    println!("|---|---:|---:|");
    for (name, ns) in rows {
        println!("| {name} | {ns:.1} | {:.2} |", ns / base);
    }
}

#[cfg(target_pointer_width = "64")]
fn measure(
    title: &str,
    pread: &RegionIo<'_>,
    mapped: &dpdk::vfio::MappedRegion<'_>,
    n: u32,
    pread_n: u32,
) {
    let fixed = mapped.fixed::<256>().expect("256 bytes mapped");
    let raw = mapped.as_ptr().expect("offset 0 mapped").cast_const();
    report(
        title,
        &[
            // SAFETY (both raw rows): raw points at a live mapping of at least 256
            // bytes; every offset used stays below 256 and is 4-byte aligned.
            (
                "raw volatile load, constant offset (floor)",
                per_access(n, |_| unsafe {
                    raw.add(0x40).cast::<u32>().read_volatile()
                }),
            ),
            (
                "FixedMapping::read32::<0x40>",
                per_access(n, |_| fixed.read32::<0x40>()),
            ),
            (
                "raw volatile load, 64 offsets",
                // SAFETY: as above; o < 256 and 4-byte aligned.
                per_access(n, |o| unsafe {
                    raw.add(o as usize).cast::<u32>().read_volatile()
                }),
            ),
            (
                "MappedRegion::read32, 64 offsets (checked)",
                per_access(n, |o| mapped.read32(o).unwrap()),
            ),
            (
                "RegionIo::read32, 64 offsets (pread64)",
                per_access(pread_n, |o| pread.read32(o).unwrap()),
            ),
        ],
    );
}

fn host() {
    let name = std::ffi::CString::new("dpdk-rs-bench").unwrap();
    // SAFETY: a valid name; the fd is checked and owned below.
    let raw = unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC) };
    assert!(raw >= 0, "memfd_create");
    // SAFETY: raw is a fresh descriptor owned by nobody else.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    // SAFETY: fd is a valid memfd.
    assert_eq!(unsafe { libc::ftruncate(fd.as_raw_fd(), 1 << 20) }, 0);
    let info = RegionInfo {
        index: RegionIndex::BAR0,
        offset: 0,
        size: 1 << 20,
        flags: RegionFlags {
            readable: true,
            writable: true,
            mmap: true,
        },
        sparse_mmap: None,
        msix_mappable: false,
        caps: vec![],
    };
    let pread = RegionIo::new(fd.as_fd(), info.clone());
    #[cfg(target_pointer_width = "64")]
    {
        let mapped = dpdk::vfio::MappedRegion::map(fd.as_fd(), &info).unwrap();
        measure(
            "host, memfd (1 MiB)",
            &pread,
            &mapped,
            20_000_000,
            1_000_000,
        );
    }
    #[cfg(not(target_pointer_width = "64"))]
    report(
        "host, memfd (1 MiB), 32-bit: pread path only",
        &[(
            "RegionIo::read32 (pread64)",
            per_access(1_000_000, |o| pread.read32(o).unwrap()),
        )],
    );
}

fn vm() {
    use dpdk::eal::{Eal, LogLevel};
    let ivshmem = "0000:00:04.0".parse().unwrap();
    let edu = "0000:00:03.0".parse().unwrap();
    let eal = Eal::builder()
        .no_huge(64 << 20)
        .no_shconf()
        .allow(ivshmem)
        .allow(edu)
        .log_level(LogLevel::Error)
        .init()
        .unwrap();
    for (title, address, index, n) in [
        (
            "VM, ivshmem BAR2 (RAM behind the BAR)",
            ivshmem,
            RegionIndex::BAR2,
            2_000_000,
        ),
        (
            "VM, edu BAR0 (emulated registers)",
            edu,
            RegionIndex::BAR0,
            100_000,
        ),
    ] {
        let dev = eal.vfio_open(address).unwrap();
        let pread = dev.region(index).unwrap();
        #[cfg(target_pointer_width = "64")]
        {
            let mapped = dev.map_bar(index).unwrap();
            measure(title, &pread, &mapped, n, 50_000);
        }
        #[cfg(not(target_pointer_width = "64"))]
        report(
            &format!("{title}, 32-bit: pread path only"),
            &[(
                "RegionIo::read32 (pread64)",
                per_access(n.min(50_000), |o| pread.read32(o).unwrap()),
            )],
        );
    }
}

fn main() {
    if std::env::args().any(|a| a == "--vm") {
        vm();
    } else {
        host();
    }
}
