//! Per-access cost of BAR access, Rust against C in one run: the mapped path
//! (`MappedRegion`, checked at run time, and `FixedMapping`, checked at compile
//! time) against volatile loads and stores in C on the same mapping, and the
//! pread/pwrite path (`RegionIo`) against `pread64`/`pwrite64` from C, per
//! register and for a 64 KiB range. A program that prints figures.
//!
//! * `cargo bench -p dpdk-benches --bench bar_access`: on the host, over a memfd
//!   standing in for a VFIO device fd; time per access, and instructions per
//!   access from callgrind when valgrind is installed.
//! * `--vm` (run by `tools/bench.sh --vm` in the QEMU VM): over ivshmem's BAR2;
//!   time per access, and for the mapped path instructions per access from
//!   callgrind when valgrind runs in the guest.
//! * `--kernels KIND N`: runs every kernel of KIND once with trip count N; what
//!   the callgrind runs execute.
//! * `--vm-kernels mapped N1 N2`: the mapped kernels over ivshmem's BAR2 in the
//!   VM (the EAL started, the device opened and BAR2 mapped as in `--vm`), each
//!   once with N1, then `bench_vm_second_pass`, then each once with N2; what the
//!   VM's one callgrind run executes.

use std::collections::HashMap;
use std::hint::black_box;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use dpdk::{FileRegion, RegionIndex, RegionIo, Registers};
use dpdk_benches::*;

const BULK: usize = 64 << 10;
const ROUNDS: usize = 11;

#[cfg(target_pointer_width = "64")]
mod mapped {
    use dpdk::{FixedMapping, MappedRegion, Registers};

    pub type Fixed<'a> = FixedMapping<'a, 256>;

    #[no_mangle]
    #[inline(never)]
    pub fn bench_rust_read32_fixed(bar: &Fixed<'_>, n: u64) -> u32 {
        let mut acc = 0u32;
        for _ in 0..n {
            acc = acc.wrapping_add(bar.read32::<0x40>());
        }
        acc
    }

    #[no_mangle]
    #[inline(never)]
    pub fn bench_rust_read32_checked_const(bar: &MappedRegion<'_>, n: u64) -> u32 {
        let mut acc = 0u32;
        for _ in 0..n {
            acc = acc.wrapping_add(bar.read32(0x40).unwrap());
        }
        acc
    }

    #[no_mangle]
    #[inline(never)]
    pub fn bench_rust_read32_checked_var(bar: &MappedRegion<'_>, n: u64) -> u32 {
        let mut acc = 0u32;
        for i in 0..n {
            acc = acc.wrapping_add(bar.read32((i & 63) << 2).unwrap());
        }
        acc
    }

    #[no_mangle]
    #[inline(never)]
    pub fn bench_rust_write32_fixed(bar: &Fixed<'_>, n: u64) {
        for i in 0..n {
            bar.write32::<0x40>(i as u32);
        }
    }

    #[no_mangle]
    #[inline(never)]
    pub fn bench_rust_write32_checked_const(bar: &MappedRegion<'_>, n: u64) {
        for i in 0..n {
            bar.write32(0x40, i as u32).unwrap();
        }
    }

    #[no_mangle]
    #[inline(never)]
    pub fn bench_rust_write32_checked_var(bar: &MappedRegion<'_>, n: u64) {
        for i in 0..n {
            bar.write32((i & 63) << 2, i as u32).unwrap();
        }
    }
}

/// Sums `n` 4-byte reads through `io` at `(i & 63) << 2` (the Rust side of `bench_c_pread32`);
/// panics if one fails.
#[no_mangle]
#[inline(never)]
pub fn bench_rust_pread32(io: &RegionIo<'_>, n: u64) -> u32 {
    let mut acc = 0u32;
    for i in 0..n {
        acc = acc.wrapping_add(io.read32((i & 63) << 2).unwrap());
    }
    acc
}

/// Writes `i` with `n` 4-byte writes through `io` at `(i & 63) << 2` (the Rust side of
/// `bench_c_pwrite32`); panics if one fails.
#[no_mangle]
#[inline(never)]
pub fn bench_rust_pwrite32(io: &RegionIo<'_>, n: u64) {
    for i in 0..n {
        io.write32((i & 63) << 2, i as u32).unwrap();
    }
}

/// Fills `buf` from offset 0 through `io`, `n` times (the Rust side of `bench_c_pread_bulk`);
/// panics if one fails.
#[no_mangle]
#[inline(never)]
pub fn bench_rust_pread_bulk(io: &RegionIo<'_>, buf: &mut [u8], n: u64) {
    for _ in 0..n {
        io.read_bytes(0, buf).unwrap();
    }
}

/// One row of the tables: an operation, a variant, and how to run `n` of it.
struct Kernel<'a> {
    op: &'static str,
    variant: &'static str,
    symbol: &'static str,
    run: Box<dyn Fn(u64) + 'a>,
}

fn kernel<'a>(
    op: &'static str,
    variant: &'static str,
    symbol: &'static str,
    run: impl Fn(u64) + 'a,
) -> Kernel<'a> {
    Kernel {
        op,
        variant,
        symbol,
        run: Box::new(run),
    }
}

#[cfg(target_pointer_width = "64")]
fn mapped_kernels<'a>(
    bar: &'a dpdk::MappedRegion<'_>,
    fixed: &'a mapped::Fixed<'_>,
) -> Vec<Kernel<'a>> {
    use mapped::*;
    let base = bar.as_ptr().expect("offset 0 mapped");
    // SAFETY (every C kernel below): base points at a live, readable and writable
    // mapping of at least 256 bytes, kept alive by `bar` for as long as the
    // closures live; the C kernels touch only aligned offsets below 256.
    vec![
        kernel(
            "read32, constant offset",
            "C",
            "bench_c_read32_const",
            move |n| {
                // SAFETY: see above.
                black_box(unsafe { bench_c_read32_const(base, n) });
            },
        ),
        kernel(
            "read32, constant offset",
            "FixedMapping (compile-time checked)",
            "bench_rust_read32_fixed",
            move |n| {
                black_box(bench_rust_read32_fixed(black_box(fixed), n));
            },
        ),
        kernel(
            "read32, constant offset",
            "MappedRegion (run-time checked)",
            "bench_rust_read32_checked_const",
            move |n| {
                black_box(bench_rust_read32_checked_const(black_box(bar), n));
            },
        ),
        kernel("read32, 64 offsets", "C", "bench_c_read32_var", move |n| {
            // SAFETY: see above.
            black_box(unsafe { bench_c_read32_var(base, n) });
        }),
        kernel(
            "read32, 64 offsets",
            "MappedRegion (run-time checked)",
            "bench_rust_read32_checked_var",
            move |n| {
                black_box(bench_rust_read32_checked_var(black_box(bar), n));
            },
        ),
        kernel(
            "write32, constant offset",
            "C",
            "bench_c_write32_const",
            move |n| {
                // SAFETY: see above.
                unsafe { bench_c_write32_const(base, n) };
            },
        ),
        kernel(
            "write32, constant offset",
            "FixedMapping (compile-time checked)",
            "bench_rust_write32_fixed",
            move |n| bench_rust_write32_fixed(black_box(fixed), n),
        ),
        kernel(
            "write32, constant offset",
            "MappedRegion (run-time checked)",
            "bench_rust_write32_checked_const",
            move |n| bench_rust_write32_checked_const(black_box(bar), n),
        ),
        kernel(
            "write32, 64 offsets",
            "C",
            "bench_c_write32_var",
            move |n| {
                // SAFETY: see above.
                unsafe { bench_c_write32_var(base, n) };
            },
        ),
        kernel(
            "write32, 64 offsets",
            "MappedRegion (run-time checked)",
            "bench_rust_write32_checked_var",
            move |n| bench_rust_write32_checked_var(black_box(bar), n),
        ),
    ]
}

fn pread_kernels<'a>(io: &'a RegionIo<'_>, fd: BorrowedFd<'a>) -> Vec<Kernel<'a>> {
    let raw = fd.as_raw_fd();
    let at = i64::try_from(io.file_offset()).expect("region offset fits off64_t");
    vec![
        kernel("pread, 4 bytes", "C pread64", "bench_c_pread32", move |n| {
            // SAFETY: raw is the live descriptor behind `io`; the C kernel reads
            // into its own stack variable.
            black_box(unsafe { bench_c_pread32(raw, at, n) });
        }),
        kernel(
            "pread, 4 bytes",
            "RegionIo::read32",
            "bench_rust_pread32",
            move |n| {
                black_box(bench_rust_pread32(black_box(io), n));
            },
        ),
        kernel(
            "pwrite, 4 bytes",
            "C pwrite64",
            "bench_c_pwrite32",
            move |n| {
                // SAFETY: as above; the C kernel writes from its own stack variable.
                black_box(unsafe { bench_c_pwrite32(raw, at, n) });
            },
        ),
        kernel(
            "pwrite, 4 bytes",
            "RegionIo::write32",
            "bench_rust_pwrite32",
            move |n| bench_rust_pwrite32(black_box(io), n),
        ),
    ]
}

fn bulk_kernels<'a>(io: &'a RegionIo<'_>, fd: BorrowedFd<'a>) -> Vec<Kernel<'a>> {
    let raw = fd.as_raw_fd();
    let at = i64::try_from(io.file_offset()).expect("region offset fits off64_t");
    vec![
        kernel(
            "pread, 64 KiB",
            "C pread64",
            "bench_c_pread_bulk",
            move |n| {
                let mut buf = vec![0u8; BULK];
                // SAFETY: buf is a live, writable buffer of BULK bytes; raw is the live
                // descriptor behind `io`.
                let ret = unsafe { bench_c_pread_bulk(raw, at, buf.as_mut_ptr(), BULK, n) };
                assert_eq!(ret, 0, "C pread64 of 64 KiB");
            },
        ),
        kernel(
            "pread, 64 KiB",
            "RegionIo::read_bytes",
            "bench_rust_pread_bulk",
            move |n| {
                let mut buf = vec![0u8; BULK];
                bench_rust_pread_bulk(black_box(io), &mut buf, n);
            },
        ),
    ]
}

/// The symbols of `kernels`, for callgrind.
fn symbols(kernels: &[Kernel<'_>]) -> Vec<&'static str> {
    kernels.iter().map(|k| k.symbol).collect()
}

/// Trip counts of the callgrind runs: small enough for callgrind, the same
/// ratio for every kind.
fn trip_counts(kind: &str) -> (u64, u64) {
    match kind {
        "mapped" => (1000, 21000),
        "pread" => (100, 2100),
        _ => (2, 42),
    }
}

/// Instructions per access of the kernels `symbols` of `kind` on the host,
/// when valgrind runs: this program runs twice under callgrind as
/// `--kernels KIND N`, with two trip counts.
fn ir_per_access(kind: &str, symbols: &[&str]) -> Option<HashMap<String, f64>> {
    if !have_valgrind() {
        return None;
    }
    let (n1, n2) = trip_counts(kind);
    Some(callgrind_per_iter(
        |n| vec!["--kernels".into(), kind.into(), n.to_string()],
        symbols,
        n1,
        n2,
    ))
}

/// Marks the second pass of `--vm-kernels`: callgrind dumps its counts on
/// entering it.
#[no_mangle]
#[inline(never)]
pub fn bench_vm_second_pass() {
    black_box(0u8);
}

/// Times every kernel (ns per access: min and median of ROUNDS rounds of
/// `n`), then prints the instructions per access `ir` (callgrind), if any.
fn measure(
    group: &str,
    title: &str,
    kernels: &[Kernel<'_>],
    n: u64,
    ir: Option<HashMap<String, f64>>,
) {
    // Rounds interleave the kernels, so that a burst of load from elsewhere on
    // the machine hits C and Rust alike.
    let mut samples = vec![Vec::new(); kernels.len()];
    for _ in 0..ROUNDS {
        for (k, s) in kernels.iter().zip(&mut samples) {
            s.push(time_per_iter(1, n, |n| (k.run)(n)).0);
        }
    }
    let mut rows = Vec::new();
    for (k, s) in kernels.iter().zip(samples) {
        let (min, median) = min_median(s);
        let name = format!("{}|{}", k.op, k.variant);
        emit(group, &name, "ns_min", min);
        emit(group, &name, "ns_median", median);
        rows.push((name, min));
    }
    print_table(title, "ns/access (min)", &rows);
    if let Some(counts) = ir {
        let mut rows = Vec::new();
        for k in kernels {
            let name = format!("{}|{}", k.op, k.variant);
            if let Some(ir) = counts.get(k.symbol) {
                emit(group, &name, "ir", *ir);
                rows.push((name, *ir));
            }
        }
        print_table(
            &format!("{title}: instructions per access (callgrind)"),
            "Ir/access",
            &rows,
        );
    }
}

fn memfd() -> OwnedFd {
    let name = std::ffi::CString::new("dpdk-rs-bench").unwrap();
    // SAFETY: a valid name; the fd is checked and owned below.
    let raw = unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC) };
    assert!(raw >= 0, "memfd_create");
    // SAFETY: raw is a fresh descriptor owned by nobody else.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    // SAFETY: fd is a valid memfd.
    assert_eq!(unsafe { libc::ftruncate(fd.as_raw_fd(), 1 << 20) }, 0);
    fd
}

/// The host's stand-in for a BAR: all of the 1 MiB memfd, readable and writable.
fn host_region() -> FileRegion {
    FileRegion::new(RegionIndex::BAR0, 0, 1 << 20)
}

/// Maps the host region of `fd`, a memfd from [`memfd`].
#[cfg(target_pointer_width = "64")]
fn map_host(fd: &OwnedFd) -> dpdk::MappedRegion<'_> {
    // SAFETY: `fd` is a memfd of 1 MiB (memfd()), the size of host_region(),
    // never truncated; the kernels use the mapping from this thread only, and
    // the C kernels' accesses through `as_ptr()` are sequential with them.
    unsafe { dpdk::MappedRegion::map_file(fd.as_fd(), &host_region(), &[]) }.unwrap()
}

/// Runs the kernels of one kind once each with trip count `n` (callgrind runs).
fn kernels_only(kind: &str, n: u64) {
    let fd = memfd();
    let io = RegionIo::over_file(fd.as_fd(), &host_region());
    let list = match kind {
        #[cfg(target_pointer_width = "64")]
        "mapped" => {
            let bar = map_host(&fd);
            let fixed = bar.fixed::<256>().unwrap();
            for k in mapped_kernels(&bar, &fixed) {
                (k.run)(n);
            }
            return;
        }
        "pread" => pread_kernels(&io, fd.as_fd()),
        "bulk" => bulk_kernels(&io, fd.as_fd()),
        _ => return,
    };
    for k in list {
        (k.run)(n);
    }
}

fn host() {
    let fd = memfd();
    let io = RegionIo::over_file(fd.as_fd(), &host_region());
    #[cfg(target_pointer_width = "64")]
    {
        let bar = map_host(&fd);
        let fixed = bar.fixed::<256>().unwrap();
        let kernels = mapped_kernels(&bar, &fixed);
        let ir = ir_per_access("mapped", &symbols(&kernels));
        measure(
            "host_mapped",
            "host, memfd mapping: per access",
            &kernels,
            10_000_000,
            ir,
        );
    }
    let kernels = pread_kernels(&io, fd.as_fd());
    let ir = ir_per_access("pread", &symbols(&kernels));
    measure(
        "host_pread",
        "host, memfd: pread/pwrite per register",
        &kernels,
        200_000,
        ir,
    );
    let kernels = bulk_kernels(&io, fd.as_fd());
    let ir = ir_per_access("bulk", &symbols(&kernels));
    measure(
        "host_bulk",
        "host, memfd: 64 KiB pread (per call)",
        &kernels,
        2_000,
        ir,
    );
}

/// Starts the EAL for ivshmem (0000:00:04.0) in the VM, opens it through VFIO
/// and calls `f` with it.
fn with_ivshmem(f: impl FnOnce(&dpdk::VfioDevice<'_>)) {
    use dpdk::{Eal, LogLevel};
    let ivshmem = "0000:00:04.0".parse().unwrap();
    let eal = Eal::builder()
        .no_huge(64 << 20)
        .no_shconf()
        .allow(ivshmem)
        .log_level(LogLevel::Error)
        .init()
        .unwrap();
    let dev = eal.vfio_open(ivshmem).unwrap();
    f(&dev);
}

/// The symbols of the mapped kernels (built over a memfd mapping, for their
/// names only).
#[cfg(target_pointer_width = "64")]
fn mapped_symbols() -> Vec<&'static str> {
    let fd = memfd();
    let bar = map_host(&fd);
    let fixed = bar.fixed::<256>().unwrap();
    let kernels = mapped_kernels(&bar, &fixed);
    symbols(&kernels)
}

/// The VM's callgrind run (`--vm-kernels mapped N1 N2`): every mapped kernel
/// once with trip count `n1` over ivshmem's BAR2, then `bench_vm_second_pass`,
/// then every kernel once with `n2`. One run, not one per trip count: under
/// QEMU's emulation the EAL's start under valgrind takes minutes.
fn vm_kernels_only(kind: &str, n1: u64, n2: u64) {
    assert_eq!(kind, "mapped", "--vm-kernels: only the mapped kernels");
    #[cfg(target_pointer_width = "64")]
    with_ivshmem(|dev| {
        let bar = dev.map_bar(RegionIndex::BAR2).unwrap();
        let fixed = bar.fixed::<256>().unwrap();
        let kernels = mapped_kernels(&bar, &fixed);
        for k in &kernels {
            (k.run)(n1);
        }
        // Called through an opaque pointer, so that the call stays.
        black_box(bench_vm_second_pass as fn())();
        for k in &kernels {
            (k.run)(n2);
        }
    });
    #[cfg(not(target_pointer_width = "64"))]
    let _ = (n1, n2);
}

/// Instructions per access of the mapped kernels over ivshmem's BAR2 in the
/// VM, when valgrind runs: one callgrind run of `--vm-kernels mapped N1 N2`.
#[cfg(target_pointer_width = "64")]
fn vm_ir_per_access() -> Option<HashMap<String, f64>> {
    if !have_valgrind() {
        return None;
    }
    let (n1, n2) = trip_counts("mapped");
    let args = ["--vm-kernels", "mapped", &n1.to_string(), &n2.to_string()].map(String::from);
    Some(callgrind_per_iter_one_run(
        &args,
        &mapped_symbols(),
        "bench_vm_second_pass",
        n1,
        n2,
    ))
}

fn vm() {
    // Instructions per access of the mapped kernels over BAR2, first: the
    // callgrind run is a child process that start their own EAL and open the
    // device, which only one process at a time can hold. A failed run (valgrind
    // not working in the guest) leaves the times.
    #[cfg(target_pointer_width = "64")]
    let ir = {
        let started = std::time::Instant::now();
        match std::panic::catch_unwind(vm_ir_per_access) {
            Ok(ir) => {
                if ir.is_some() {
                    println!(
                        "vm: callgrind run of the mapped kernels: {:.0} s",
                        started.elapsed().as_secs_f64()
                    );
                }
                ir
            }
            Err(_) => {
                println!("vm: callgrind run of the mapped kernels failed; times only");
                None
            }
        }
    };
    with_ivshmem(|dev| {
        let io = dev.region(RegionIndex::BAR2).unwrap();
        #[cfg(target_pointer_width = "64")]
        {
            let bar = dev.map_bar(RegionIndex::BAR2).unwrap();
            let fixed = bar.fixed::<256>().unwrap();
            measure(
                "vm_mapped",
                "VM, ivshmem BAR2 mapping: per access",
                &mapped_kernels(&bar, &fixed),
                1_000_000,
                ir,
            );
        }
        measure(
            "vm_pread",
            "VM, ivshmem BAR2: pread/pwrite per register",
            &pread_kernels(&io, dev.as_fd()),
            20_000,
            None,
        );
        measure(
            "vm_bulk",
            "VM, ivshmem BAR2: 64 KiB pread (per call)",
            &bulk_kernels(&io, dev.as_fd()),
            200,
            None,
        );
    });
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("--kernels") => kernels_only(&args[2], args[3].parse().expect("trip count")),
        Some("--vm-kernels") => vm_kernels_only(
            &args[2],
            args[3].parse().expect("trip count"),
            args[4].parse().expect("trip count"),
        ),
        Some("--vm") => vm(),
        _ => host(),
    }
}
