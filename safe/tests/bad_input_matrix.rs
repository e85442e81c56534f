//! The bad-input matrix: every kind of wrong input the public API takes, each
//! case asserting the exact error variant and its message, never a panic.
//!
//! Cases that need no EAL run in this process; the EAL starts once per process,
//! so the cases that need one run in child processes (the test binary
//! re-executed for one `child_*` test, see `common`). Each group of cases is a
//! test of its own (`cargo test --test bad_input_matrix sysfs` runs one), so
//! one failure does not hide the rest; every case is recorded by name,
//! children print theirs, and each group checks that its names are distinct,
//! prints its count and fails below its floor.

mod common;

use std::collections::BTreeSet;
use std::fmt::{Debug, Display};
use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::os::fd::AsFd;
use std::path::Path;

use common::{base_builder, is_child, plain_region, unlinked_file};
use dpdk_safe::parse::parse_region_caps;
use dpdk_safe::parse::{parse_region_info, region_info};
use dpdk_safe::testing::{FakeDevice, FakePciTree, FLAGS_MEM32};
use dpdk_safe::{
    AccessError, BadBarIndex, BarIndex, CapChainError, FileRegion, OpenError, RegionIndex,
    RegionInfoError, RegionIo, Registers,
};
use dpdk_safe::{AddressErrorKind, AddressField};
use dpdk_safe::{
    DeviceError, ParseAddressError, PciAddress, SysfsDevice, SysfsError, SysfsErrorKind,
};
use dpdk_safe::{EalBuilder, EalError};

/// Prefix of the line each recorded case prints (parsed from children's output).
const CASE_LINE: &str = "matrix-case: ";

/// The cases run in one process.
#[derive(Default)]
struct Matrix {
    cases: Vec<String>,
}

impl Matrix {
    fn record(&mut self, group: &str, name: &str) {
        let case = format!("{group}/{name}");
        println!("{CASE_LINE}{case}");
        self.cases.push(case);
    }
}

/// The error of a result that must have failed.
fn error_of<T, E>(case: &str, result: Result<T, E>) -> E {
    match result {
        Ok(_) => panic!("case {case}: bad input was accepted"),
        Err(e) => e,
    }
}

/// Asserts `$result` failed with an error matching `$pat` whose message is exactly `$msg`.
macro_rules! exact {
    ($m:expr, $group:expr, $name:expr, $result:expr, $pat:pat $(if $guard:expr)?, $msg:expr) => {{
        let err = crate::error_of($name, $result);
        crate::check_variant($name, &err, matches!(err, $pat $(if $guard)?));
        assert_eq!(err.to_string(), $msg, "case {}: message", $name);
        $m.record($group, $name);
    }};
}

/// Asserts `$result` failed with an error matching `$pat` whose message contains
/// every one of `$parts` (for messages carrying the OS's or DPDK's own text).
macro_rules! contains {
    ($m:expr, $group:expr, $name:expr, $result:expr, $pat:pat $(if $guard:expr)?, $parts:expr) => {{
        let err = crate::error_of($name, $result);
        crate::check_variant($name, &err, matches!(err, $pat $(if $guard)?));
        let text = err.to_string();
        for part in $parts {
            let part: &str = part.as_ref();
            assert!(
                text.contains(part),
                "case {}: message {text:?} lacks {part:?}",
                $name
            );
        }
        $m.record($group, $name);
    }};
}

fn check_variant(case: &str, err: &(impl Debug + Display), ok: bool) {
    assert!(ok, "case {case}: wrong error variant: {err:?} ({err})");
}

fn addr(s: &str) -> PciAddress {
    s.parse().unwrap()
}

// ---------------------------------------------------------------- addresses

fn address_cases(m: &mut Matrix) {
    const G: &str = "address";
    use AddressField::{Bus, Device, Domain, Function};
    let parse = |s: &str| s.parse::<PciAddress>();
    let ulong_max = u64::MAX >> (64 - std::ffi::c_ulong::BITS);
    let minus_one = format!("the device 0x{ulong_max:x} is more than 0xff");
    let cases: &[(&str, &str, AddressErrorKind, &str)] = &[
        ("empty", "", AddressErrorKind::Empty, "empty string"),
        (
            "leading-space",
            " 0000:00:03.0",
            AddressErrorKind::ForbiddenStart {
                field: Domain,
                found: ' ',
            },
            "the domain starts with ' ', which DPDK refuses",
        ),
        (
            "trailing-newline",
            "0000:00:03.0\n",
            AddressErrorKind::BadEnd {
                field: Function,
                found: Some('\n'),
            },
            "the function is not a hex number ending the text: found '\\n'",
        ),
        (
            "no-function",
            "0000:00:03",
            AddressErrorKind::BadEnd {
                field: Device,
                found: None,
            },
            "the device is not a hex number followed by '.': found the end of the text",
        ),
        (
            "too-many-colons",
            "0:0000:00:03.0",
            AddressErrorKind::BadEnd {
                field: Device,
                found: Some(':'),
            },
            "the device is not a hex number followed by '.': found ':'",
        ),
        (
            "bus-not-hex",
            "0000:0g:03.0",
            AddressErrorKind::BadEnd {
                field: Bus,
                found: Some('g'),
            },
            "the bus is not a hex number followed by ':': found 'g'",
        ),
        (
            "function-nul",
            "0000:00:03.0\0",
            AddressErrorKind::Nul,
            "contains a NUL character",
        ),
        (
            "device-unicode-digit",
            "0000:00:０3.0",
            AddressErrorKind::BadEnd {
                field: Device,
                found: Some('０'),
            },
            "the device is not a hex number followed by '.': found '０'",
        ),
        (
            "function-missing",
            "0000:00:03.",
            AddressErrorKind::Missing { field: Function },
            "the text ends before the function",
        ),
        (
            "function-minus",
            "0000:00:03.-1",
            AddressErrorKind::ForbiddenStart {
                field: Function,
                found: '-',
            },
            "the function starts with '-', which DPDK refuses",
        ),
        (
            "bus-0x100",
            "0000:100:03.0",
            AddressErrorKind::OutOfRange {
                field: Bus,
                value: Some(0x100),
            },
            "the bus 0x100 is more than 0xff",
        ),
        (
            "device-tab-minus-1",
            "0000:00:\t-1.0",
            AddressErrorKind::OutOfRange {
                field: Device,
                value: Some(ulong_max),
            },
            &minus_one,
        ),
        (
            "domain-overflows-ulong",
            "1ffffffffffffffff:00:03.0",
            AddressErrorKind::OutOfRange {
                field: Domain,
                value: None,
            },
            "the domain overflows C's unsigned long, let alone 0xffffffff",
        ),
    ];
    for (name, input, kind, reason) in cases {
        exact!(
            m,
            G,
            name,
            parse(input),
            ParseAddressError { kind: ref k, .. } if k == kind,
            format!("invalid PCI address {input:?}: {reason}")
        );
    }
    // Once refused here, accepted by DPDK's rte_pci_addr_parse, which stores
    // these fields (and names each device by the canonical text).
    let accepted: &[(&str, &str, Fields, &str)] = &[
        ("domain-sign", "+000:00:03.0", (0, 0, 3, 0), "0000:00:03.0"),
        (
            "domain-9-digits",
            "000000000:00:03.0",
            (0, 0, 3, 0),
            "0000:00:03.0",
        ),
        (
            "bus-3-digits",
            "0000:000:03.0",
            (0, 0, 3, 0),
            "0000:00:03.0",
        ),
        (
            "function-2-digits",
            "0000:00:03.00",
            (0, 0, 3, 0),
            "0000:00:03.0",
        ),
        ("domain-empty", ":00:03.0", (0, 0, 3, 0), "0000:00:03.0"),
        ("device-empty", "0000:00:.0", (0, 0, 0, 0), "0000:00:00.0"),
        (
            "device-0x20",
            "0000:00:20.0",
            (0, 0, 0x20, 0),
            "0000:00:20.0",
        ),
        ("function-8", "0000:00:03.8", (0, 0, 3, 8), "0000:00:03.8"),
    ];
    for (name, input, want, shown) in accepted {
        accepted_address(m, G, name, parse(input), *want, shown);
    }
    accepted_address(
        m,
        G,
        "new-device-32",
        Ok(PciAddress::new(0, 0, 32, 0)),
        (0, 0, 32, 0),
        "0000:00:20.0",
    );
    accepted_address(
        m,
        G,
        "new-function-9",
        Ok(PciAddress::new(0, 0, 3, 9)),
        (0, 0, 3, 9),
        "0000:00:03.9",
    );
}

/// Domain, bus, device and function.
type Fields = (u32, u8, u8, u8);

/// An address case DPDK accepts: the fields it stores and the name it prints.
fn accepted_address(
    m: &mut Matrix,
    group: &str,
    name: &str,
    result: Result<PciAddress, ParseAddressError>,
    want: Fields,
    shown: &str,
) {
    let a = result.unwrap_or_else(|e| panic!("case {name}: DPDK accepts this, but: {e}"));
    assert_eq!(
        (a.domain(), a.bus(), a.device(), a.function()),
        want,
        "case {name}: fields"
    );
    assert_eq!(a.to_string(), shown, "case {name}: name");
    m.record(group, name);
}

// ---------------------------------------------------------------- BAR indices

fn bar_index_cases(m: &mut Matrix) {
    const G: &str = "bar-index";
    for (name, n) in [("6", 6), ("255", 255), ("256", 256), ("u32-max", u32::MAX)] {
        exact!(
            m,
            G,
            name,
            RegionIndex::bar(n),
            BadBarIndex(x) if x == n,
            format!("BAR {n} does not exist: PCI devices have BARs 0 to 5")
        );
    }
}

// ---------------------------------------------------------------- EAL arguments (no EAL)

fn eal_argument_cases(m: &mut Matrix) {
    const G: &str = "eal-args";
    // Refused before DPDK is called (and --no-pci, should that ever change).
    exact!(
        m,
        G,
        "nul-in-vdev",
        base_builder().no_pci().vdev("net_null0\0x").init(),
        EalError::NulInArgument(ref a) if a == "net_null0\0x",
        "EAL argument \"net_null0\\0x\" contains a NUL byte"
    );
    exact!(
        m,
        G,
        "nul-in-program-name",
        EalBuilder::new().program_name("a\0b").no_pci().c_args(),
        EalError::NulInArgument(ref a) if a == "a\0b",
        "EAL argument \"a\\0b\" contains a NUL byte"
    );
    exact!(
        m,
        G,
        "nul-in-raw-arg",
        base_builder().no_pci().arg("--file-prefix=\0").c_args(),
        EalError::NulInArgument(_),
        "EAL argument \"--file-prefix=\\0\" contains a NUL byte"
    );
    // Safe arguments DPDK could read as an option that loads a shared object.
    let loads = |arg: &str| {
        format!(
            "EAL argument {arg:?} would make DPDK load a shared object: \
             use the unsafe EalBuilder::driver_path or EalBuilder::unchecked_arg"
        )
    };
    exact!(
        m,
        G,
        "loads-code-d",
        base_builder().no_pci().arg("-d").arg("/tmp/x.so").c_args(),
        EalError::LoadsCode { ref arg } if arg == "-d",
        loads("-d")
    );
    exact!(
        m,
        G,
        "loads-code-attached",
        base_builder().no_pci().arg("-d/tmp/x.so").init(),
        EalError::LoadsCode { ref arg } if arg == "-d/tmp/x.so",
        loads("-d/tmp/x.so")
    );
    exact!(
        m,
        G,
        "loads-code-cluster",
        base_builder().no_pci().arg("-vhd/tmp/x.so").c_args(),
        EalError::LoadsCode { ref arg } if arg == "-vhd/tmp/x.so",
        loads("-vhd/tmp/x.so")
    );
    exact!(
        m,
        G,
        "loads-code-long-prefix",
        base_builder().no_pci().arg("--driver-p=/tmp/x.so").c_args(),
        EalError::LoadsCode { ref arg } if arg == "--driver-p=/tmp/x.so",
        loads("--driver-p=/tmp/x.so")
    );
    exact!(
        m,
        G,
        "loads-code-in-setter-value",
        base_builder().no_pci().vdev("-d/tmp/x.so").c_argv(),
        EalError::LoadsCode { ref arg } if arg == "-d/tmp/x.so",
        loads("-d/tmp/x.so")
    );
}

// ---------------------------------------------------------------- region access over files

fn region(size: u64, readable: bool, writable: bool) -> FileRegion {
    plain_region(RegionIndex::BAR2, 0, size, readable, writable)
}

/// An unlinked temporary file of `len` bytes.
fn temp_file(len: u64) -> File {
    let mut file = unlinked_file();
    if len > 0 {
        file.seek(SeekFrom::Start(len - 1)).unwrap();
        file.write_all(&[0]).unwrap();
    }
    file
}

fn region_io_cases(m: &mut Matrix) {
    const G: &str = "region-io";
    let file = temp_file(4096);
    let io = RegionIo::over_file(file.as_fd(), &region(256, true, true));
    exact!(
        m,
        G,
        "read32-past-end",
        io.read32(256),
        AccessError::OutOfBounds {
            offset: 256,
            width: 4,
            size: 256,
            ..
        },
        "BAR2: 4-byte access at 0x100 is past the end (size 0x100)"
    );
    exact!(
        m,
        G,
        "read32-straddles-end",
        io.read32(254),
        AccessError::OutOfBounds { offset: 254, .. },
        "BAR2: 4-byte access at 0xfe is past the end (size 0x100)"
    );
    exact!(
        m,
        G,
        "read64-offset-overflows-u64",
        io.read64(u64::MAX - 3),
        AccessError::OutOfBounds { width: 8, .. },
        "BAR2: 8-byte access at 0xfffffffffffffffc is past the end (size 0x100)"
    );
    exact!(
        m,
        G,
        "write8-past-end",
        io.write8(256, 1),
        AccessError::OutOfBounds { width: 1, .. },
        "BAR2: 1-byte access at 0x100 is past the end (size 0x100)"
    );
    exact!(
        m,
        G,
        "read-bytes-past-end",
        io.read_bytes(200, &mut [0u8; 57]),
        AccessError::OutOfBounds { width: 57, .. },
        "BAR2: 57-byte access at 0xc8 is past the end (size 0x100)"
    );
    exact!(
        m,
        G,
        "write-bytes-past-end",
        io.write_bytes(255, &[0u8; 2]),
        AccessError::OutOfBounds { width: 2, .. },
        "BAR2: 2-byte access at 0xff is past the end (size 0x100)"
    );
    exact!(
        m,
        G,
        "read16-unaligned",
        io.read16(1),
        AccessError::Unaligned {
            offset: 1,
            width: 2,
            ..
        },
        "BAR2: 2-byte access at 0x1 is not 2-byte aligned"
    );
    exact!(
        m,
        G,
        "read32-unaligned",
        io.read32(2),
        AccessError::Unaligned { width: 4, .. },
        "BAR2: 4-byte access at 0x2 is not 4-byte aligned"
    );
    exact!(
        m,
        G,
        "write64-unaligned",
        io.write64(4, 0),
        AccessError::Unaligned { width: 8, .. },
        "BAR2: 8-byte access at 0x4 is not 8-byte aligned"
    );
    // A width the region cannot hold at all: an 8-byte register in a 4-byte region.
    let tiny = RegionIo::over_file(file.as_fd(), &region(4, true, true));
    exact!(
        m,
        G,
        "read64-wider-than-region",
        tiny.read64(0),
        AccessError::OutOfBounds {
            width: 8,
            size: 4,
            ..
        },
        "BAR2: 8-byte access at 0x0 is past the end (size 0x4)"
    );
    let empty = RegionIo::over_file(file.as_fd(), &region(0, true, true));
    exact!(
        m,
        G,
        "read8-empty-region",
        empty.read8(0),
        AccessError::OutOfBounds { size: 0, .. },
        "BAR2: 1-byte access at 0x0 is past the end (size 0x0)"
    );
    let write_only = RegionIo::over_file(file.as_fd(), &region(256, false, true));
    exact!(
        m,
        G,
        "read32-not-readable",
        write_only.read32(0),
        AccessError::NotReadable {
            region: RegionIndex::BAR2
        },
        "BAR2 is not readable (the kernel does not report VFIO_REGION_INFO_FLAG_READ)"
    );
    exact!(
        m,
        G,
        "read-bytes-not-readable",
        write_only.read_bytes(0, &mut [0u8; 4]),
        AccessError::NotReadable { .. },
        "BAR2 is not readable (the kernel does not report VFIO_REGION_INFO_FLAG_READ)"
    );
    let read_only = RegionIo::over_file(
        file.as_fd(),
        &plain_region(RegionIndex::Rom, 0, 256, true, false),
    );
    exact!(
        m,
        G,
        "write32-not-writable",
        read_only.write32(0, 1),
        AccessError::NotWritable {
            region: RegionIndex::Rom
        },
        "ROM is not writable (the kernel does not report VFIO_REGION_INFO_FLAG_WRITE)"
    );
    exact!(
        m,
        G,
        "write-bytes-not-writable",
        read_only.write_bytes(0, &[1]),
        AccessError::NotWritable { .. },
        "ROM is not writable (the kernel does not report VFIO_REGION_INFO_FLAG_WRITE)"
    );
    // Region offset + access offset beyond what off64_t can hold.
    let far = RegionIo::over_file(
        file.as_fd(),
        &plain_region(RegionIndex::Config, 1 << 63, 256, true, true),
    );
    exact!(
        m,
        G,
        "file-offset-beyond-off64",
        far.read32(0),
        AccessError::OffsetOverflow {
            region: RegionIndex::Config,
            offset: 0
        },
        "config space: offset 0x0 does not fit the device file's 64-bit offset space"
    );
    let wrap = RegionIo::over_file(
        file.as_fd(),
        &plain_region(RegionIndex::Vga, u64::MAX - 1, 256, true, true),
    );
    exact!(
        m,
        G,
        "file-offset-wraps-u64",
        wrap.write16(4, 0),
        AccessError::OffsetOverflow { offset: 4, .. },
        "VGA: offset 0x4 does not fit the device file's 64-bit offset space"
    );
    // The file ends before the region does: the device answered short.
    let beyond = RegionIo::over_file(
        file.as_fd(),
        &plain_region(RegionIndex::Other(9), 8192, 256, true, true),
    );
    exact!(
        m,
        G,
        "short-read-past-eof",
        beyond.read32(0),
        AccessError::Short {
            done: 0,
            wanted: 4,
            ..
        },
        "region 9: short read at 0x0: 0 of 4 bytes"
    );
    // The fd cannot be read at all: the OS's error comes back typed.
    let path = std::env::temp_dir().join(format!("dpdk-rs-matrix-wo-{}", std::process::id()));
    let write_only_file = File::create(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    let unreadable = RegionIo::over_file(write_only_file.as_fd(), &region(256, true, true));
    contains!(
        m,
        G,
        "pread-ebadf",
        unreadable.read32(0),
        AccessError::Io { op: "read", .. },
        ["BAR2: read at 0x0 failed: Bad file descriptor"]
    );
    // region_info on something that is not a VFIO device.
    contains!(
        m,
        G,
        "region-info-on-plain-file",
        region_info(file.as_fd(), RegionIndex::BAR0),
        RegionInfoError::Ioctl {
            index: RegionIndex::BAR0,
            ..
        },
        ["VFIO_DEVICE_GET_REGION_INFO for BAR0 failed: Inappropriate ioctl for device"]
    );
}

// ---------------------------------------------------------------- mappings (64-bit only)

#[cfg(target_pointer_width = "64")]
fn mapping_cases(m: &mut Matrix) {
    use dpdk_safe::{MapError, MappedRegion, SparseArea};
    const G: &str = "mapping";
    let file = temp_file(4 * 4096);
    let all_of_it = std::iter::once(0..4096).collect::<Vec<_>>();
    let mappable = |size: u64, sparse: Option<Vec<SparseArea>>| FileRegion {
        sparse,
        ..region(size, true, true)
    };
    /// Maps `region` of `fd`, a file of at least 4 pages; every region here is
    /// at most that, the file is not truncated and one thread uses the mapping.
    fn map<'fd>(
        fd: std::os::fd::BorrowedFd<'fd>,
        region: &FileRegion,
        exclude: &[std::ops::Range<u64>],
    ) -> Result<MappedRegion<'fd>, MapError> {
        // SAFETY: see above.
        unsafe { MappedRegion::map_file(fd, region, exclude) }
    }
    let unaligned = FileRegion {
        offset: 8,
        ..mappable(4096, None)
    };
    exact!(
        m,
        G,
        "map-unaligned-file-offset",
        map(file.as_fd(), &unaligned, &[]),
        MapError::UnalignedRegion { offset: 8, .. },
        "BAR2 starts at file offset 0x8, not a multiple of the page size (0x1000), so it cannot be mapped; use the pread/pwrite path"
    );
    let odd_area = |offset| mappable(2 * 4096, Some(vec![SparseArea { offset, size: 4096 }]));
    exact!(
        m,
        G,
        "map-unaligned-sparse-area",
        map(file.as_fd(), &odd_area(0x800), &[]),
        MapError::UnalignedArea { offset: 0x800, .. },
        "BAR2: mmap-able area 0x800+0x1000 does not start on a page boundary (page size 0x1000), so it cannot be mapped; use the pread/pwrite path"
    );
    exact!(
        m,
        G,
        "map-sparse-area-past-end",
        map(file.as_fd(), &odd_area(0x3000), &[]),
        MapError::AreaOutsideRegion { offset: 0x3000, .. },
        "BAR2: mmap-able area 0x3000+0x1000 starts past the end of the region (size 0x2000)"
    );
    exact!(
        m,
        G,
        "map-empty-region",
        map(file.as_fd(), &mappable(0, None), &[]),
        MapError::Empty { .. },
        "BAR2 is empty (the device does not implement it)"
    );
    exact!(
        m,
        G,
        "map-everything-excluded",
        map(file.as_fd(), &mappable(4096, None), &all_of_it),
        MapError::NothingToMap { .. },
        "BAR2: nothing left to map after excluding the MSI-X table and other ranges"
    );
    let wo_path = std::env::temp_dir().join(format!("dpdk-rs-matrix-map-{}", std::process::id()));
    let write_only = File::create(&wo_path).unwrap();
    std::fs::remove_file(&wo_path).unwrap();
    write_only.set_len(4096).unwrap();
    contains!(
        m,
        G,
        "mmap-of-write-only-fd",
        map(write_only.as_fd(), &mappable(4096, None), &[]),
        MapError::Mmap { .. },
        ["BAR2: mmap64 of 0x0+0x1000 failed: Permission denied"]
    );
    let sparse = mappable(
        2 * 4096,
        Some(vec![SparseArea {
            offset: 0,
            size: 4096,
        }]),
    );
    let bar = map(file.as_fd(), &sparse, &[]).unwrap();
    exact!(
        m,
        G,
        "access-outside-sparse-area",
        bar.read32(4096),
        AccessError::NotMapped {
            offset: 4096,
            width: 4,
            ..
        },
        "BAR2: 0x1000..+0x4 is outside the mapped areas; use the pread/pwrite path (VfioDevice::region)"
    );
    exact!(
        m,
        G,
        "mapped-read-past-end",
        bar.read32(2 * 4096),
        AccessError::OutOfBounds { .. },
        "BAR2: 4-byte access at 0x2000 is past the end (size 0x2000)"
    );
    exact!(
        m,
        G,
        "mapped-write-unaligned",
        bar.write32(6, 0),
        AccessError::Unaligned { .. },
        "BAR2: 4-byte access at 0x6 is not 4-byte aligned"
    );
    exact!(
        m,
        G,
        "fixed-view-larger-than-mapping",
        bar.fixed::<8192>().map(|_| ()),
        AccessError::NotMapped {
            offset: 0,
            width: 8192,
            ..
        },
        "BAR2: 0x0..+0x2000 is outside the mapped areas; use the pread/pwrite path (VfioDevice::region)"
    );
    let read_only = map(file.as_fd(), &region(4096, true, false), &[]).unwrap();
    exact!(
        m,
        G,
        "mapped-write-not-writable",
        read_only.write8(0, 1),
        AccessError::NotWritable { .. },
        "BAR2 is not writable (the kernel does not report VFIO_REGION_INFO_FLAG_WRITE)"
    );
}

#[cfg(not(target_pointer_width = "64"))]
fn mapping_cases(_m: &mut Matrix) {}

// ---------------------------------------------------------------- region info and capability chains

fn region_info_cases(m: &mut Matrix) {
    const G: &str = "region-info";
    exact!(
        m,
        G,
        "header-truncated",
        parse_region_info(&[0u8; 16], RegionIndex::BAR0),
        RegionInfoError::Caps {
            source: CapChainError::Truncated { len: 16, .. },
            ..
        },
        "malformed capability chain for BAR0: capability at offset 0 needs 32 bytes, the buffer has 16"
    );
    let buf = vec![0u8; 64];
    exact!(
        m,
        G,
        "cap-inside-header",
        parse_region_caps(&buf, 8),
        CapChainError::InsideHeader { offset: 8 },
        "capability at offset 8 lies inside the fixed region-info header"
    );
    exact!(
        m,
        G,
        "cap-unaligned",
        parse_region_caps(&buf, 36),
        CapChainError::Unaligned { offset: 36 },
        "capability at offset 36 is not 8-byte aligned"
    );
    exact!(
        m,
        G,
        "cap-past-buffer",
        parse_region_caps(&buf, 64),
        CapChainError::Truncated {
            offset: 64,
            needed: 72,
            len: 64
        },
        "capability at offset 64 needs 72 bytes, the buffer has 64"
    );
    // A capability whose `next` points at itself.
    let mut looping = vec![0u8; 64];
    looping[32..34].copy_from_slice(&99u16.to_ne_bytes());
    looping[36..40].copy_from_slice(&32u32.to_ne_bytes());
    exact!(
        m,
        G,
        "cap-loop",
        parse_region_caps(&looping, 32),
        CapChainError::Cycle { max: 8 },
        "capability chain loops (more than 8 entries)"
    );
    // A sparse-mmap capability claiming more areas than the buffer holds.
    let mut sparse = vec![0u8; 64];
    sparse[32..34].copy_from_slice(&1u16.to_ne_bytes());
    sparse[40..44].copy_from_slice(&1000u32.to_ne_bytes());
    exact!(
        m,
        G,
        "sparse-too-many-areas",
        parse_region_caps(&sparse, 32),
        CapChainError::TooManyAreas {
            offset: 32,
            areas: 1000
        },
        "sparse-mmap capability at offset 32 claims 1000 areas, more than fit"
    );
    let mut overflow = vec![0u8; 64];
    overflow[32..34].copy_from_slice(&1u16.to_ne_bytes());
    overflow[40..44].copy_from_slice(&1u32.to_ne_bytes());
    overflow[48..56].copy_from_slice(&u64::MAX.to_ne_bytes());
    overflow[56..64].copy_from_slice(&2u64.to_ne_bytes());
    exact!(
        m,
        G,
        "sparse-area-overflows",
        parse_region_caps(&overflow, 32),
        CapChainError::AreaOverflow { area: 0, .. },
        "sparse-mmap area 0 overflows: offset 0xffffffffffffffff + size 0x2"
    );
}

// ---------------------------------------------------------------- sysfs files

fn sysfs_cases(m: &mut Matrix) {
    const G: &str = "sysfs";
    let tree = FakePciTree::new().unwrap();
    let a = addr("0000:00:03.0");
    let dir = tree
        .add(&FakeDevice::new(a).bar(BarIndex::BAR0, 0x1000, 0x1000, FLAGS_MEM32))
        .unwrap();
    let read = || SysfsDevice::read(&dir);
    let file = |name: &str| dir.join(name).display().to_string();
    let attr = |m: &mut Matrix,
                name: &str,
                file_name: &str,
                contents: &[u8],
                kind: SysfsErrorKind,
                reason: &str| {
        tree.write_attr(a, file_name, contents).unwrap();
        exact!(
            m,
            G,
            name,
            read(),
            SysfsError { kind: ref k, .. } if *k == kind,
            format!("{}: {reason}", file(file_name))
        );
        // Restore the device for the next case.
        tree.add(&FakeDevice::new(a).bar(BarIndex::BAR0, 0x1000, 0x1000, FLAGS_MEM32))
            .unwrap();
    };
    attr(
        m,
        "vendor-not-hex",
        "vendor",
        b"zzzz\n",
        SysfsErrorKind::NotHex {
            bits: 16,
            found: "zzzz".into(),
        },
        "expected a 0x-prefixed 16-bit hex value, found \"zzzz\"",
    );
    attr(
        m,
        "device-17-bits",
        "device",
        b"0x1ffff\n",
        SysfsErrorKind::OutOfRange {
            max: 0xffff,
            value: 0x1ffff,
        },
        "value 0x1ffff exceeds 0xffff",
    );
    attr(
        m,
        "class-not-utf8",
        "class",
        b"0x\xff\xfe\n",
        SysfsErrorKind::NotUtf8,
        "not UTF-8 text",
    );
    attr(
        m,
        "subsystem-vendor-huge-file",
        "subsystem_vendor",
        &[b'0'; 5000],
        SysfsErrorKind::TooLarge,
        "larger than 4096 bytes, not a sysfs attribute",
    );
    attr(
        m,
        "numa-node-not-decimal",
        "numa_node",
        b"zero\n",
        SysfsErrorKind::NotDecimal {
            found: "zero".into(),
        },
        "expected a decimal number, found \"zero\"",
    );
    attr(
        m,
        "numa-node-negative",
        "numa_node",
        b"-2\n",
        SysfsErrorKind::OutOfRange {
            max: u32::MAX.into(),
            value: -2i64 as u64,
        },
        "value 0xfffffffffffffffe exceeds 0xffffffff",
    );
    attr(
        m,
        "resource-five-lines",
        "resource",
        "0x0 0x0 0x0\n".repeat(5).as_bytes(),
        SysfsErrorKind::TooFewResourceLines(5),
        "5 lines, expected at least 6",
    );
    attr(
        m,
        "resource-bad-line",
        "resource",
        "0x1000 0x1fff\n".repeat(6).as_bytes(),
        SysfsErrorKind::BadResourceLine { line: 1 },
        "line 1: expected three 0x-prefixed hex numbers",
    );
    attr(
        m,
        "resource-end-before-start",
        "resource",
        format!("0x2000 0x1000 0x40200\n{}", "0x0 0x0 0x0\n".repeat(5)).as_bytes(),
        SysfsErrorKind::ResourceEndBeforeStart { line: 1 },
        "line 1: end before start",
    );
    tree.remove_attr(a, "vendor").unwrap();
    contains!(
        m,
        G,
        "vendor-missing",
        read(),
        SysfsError {
            kind: SysfsErrorKind::Io(_),
            ..
        },
        [format!("{}: No such file or directory", file("vendor"))]
    );
    let odd = tree.devices_dir().join("not-an-address");
    std::fs::create_dir_all(&odd).unwrap();
    exact!(
        m,
        G,
        "directory-not-an-address",
        SysfsDevice::read(&odd),
        SysfsError {
            kind: SysfsErrorKind::BadDirectoryName,
            ..
        },
        format!(
            "{}: directory name is not a PCI address DPDK's scan reads",
            odd.display()
        )
    );
}

// ---------------------------------------------------------------- driver registration (no EAL)

#[cfg(dpdk_pci_driver)]
mod drivers {
    use dpdk_safe::{PciDriver, ProbeFailure, ProbedDevice};

    /// A driver that takes every device and does nothing.
    pub struct Nop;

    impl PciDriver for Nop {
        type Device = ();
        fn probe(&self, _device: &ProbedDevice<'_>) -> Result<(), ProbeFailure> {
            Ok(())
        }
        fn remove(&self, _device: &ProbedDevice<'_>, _state: ()) {}
    }
}

#[cfg(dpdk_pci_driver)]
fn registration_cases(m: &mut Matrix) {
    use dpdk_safe::{register, DriverFlags, PciIdPattern, RegisterError};
    use drivers::Nop;
    const G: &str = "register";
    let ids = [PciIdPattern::new(0x1234, 0x11e8)];
    let none = DriverFlags::empty();
    // Every one of these is refused before DPDK is called.
    exact!(
        m,
        G,
        "empty-id-table",
        register("rs_matrix_empty", &[], none, Nop),
        RegisterError::EmptyIdTable(_),
        "driver \"rs_matrix_empty\": the ID table is empty"
    );
    exact!(
        m,
        G,
        "vendor-zero",
        register(
            "rs_matrix_zero",
            &[PciIdPattern::new(0x1234, 1), PciIdPattern::new(0, 2)],
            none,
            Nop
        ),
        RegisterError::VendorZero { index: 1, .. },
        "driver \"rs_matrix_zero\": ID table entry 1 has vendor 0, which ends DPDK's table early"
    );
    exact!(
        m,
        G,
        "empty-name",
        register("", &ids, none, Nop),
        RegisterError::BadName(_),
        "driver name \"\" is empty or contains a NUL byte"
    );
    exact!(
        m,
        G,
        "nul-in-name",
        register("rs\0x", &ids, none, Nop),
        RegisterError::BadName(_),
        "driver name \"rs\\0x\" is empty or contains a NUL byte"
    );
}

#[cfg(not(dpdk_pci_driver))]
fn registration_cases(_m: &mut Matrix) {}

// ---------------------------------------------------------------- the matrix

/// Runs child `name` over `tree` and returns the cases it recorded.
fn child_cases(name: &str, envs: &[(&str, &str)]) -> Vec<String> {
    let text = common::child_passes(name, envs);
    // Not only at the start of a line: libtest prints "test NAME ... " before
    // the first line a test prints under --nocapture.
    text.lines()
        .filter_map(|l| l.find(CASE_LINE).map(|at| &l[at + CASE_LINE.len()..]))
        .map(str::to_owned)
        .collect()
}

/// Checks one group's recorded cases: distinct, and at least `floor` of them
/// (the count on x86_64 with DPDK 22.11; targets without mappings or Rust
/// drivers give a floor of 0 for those groups). Prints the count.
fn check_group(group: &str, cases: &[String], floor: usize) {
    let distinct: BTreeSet<&String> = cases.iter().collect();
    assert_eq!(
        distinct.len(),
        cases.len(),
        "{group}: case names repeat: {cases:#?}"
    );
    println!("bad_input_matrix: {group}: {} cases", cases.len());
    assert!(
        cases.len() >= floor,
        "{group}: only {} cases, expected at least {floor}: {cases:#?}",
        cases.len()
    );
}

/// Runs one in-process group of cases.
fn in_process(group: &str, run: fn(&mut Matrix), floor: usize) {
    let mut m = Matrix::default();
    run(&mut m);
    check_group(group, &m.cases, floor);
}

/// 64-bit targets only (mappings), or 0 elsewhere.
const MAPPED: usize = if cfg!(target_pointer_width = "64") {
    1
} else {
    0
};
/// Targets with Rust PCI drivers (DPDK 22.11's driver SDK), or 0 elsewhere.
const DRIVERS: usize = if cfg!(dpdk_pci_driver) { 1 } else { 0 };

#[test]
fn bad_input_addresses() {
    in_process("address", address_cases, 23);
}

#[test]
fn bad_input_bar_index() {
    in_process("bar-index", bar_index_cases, 4);
}

#[test]
fn bad_input_eal_arguments() {
    in_process("eal-args", eal_argument_cases, 8);
}

#[test]
fn bad_input_region_io() {
    in_process("region-io", region_io_cases, 20);
}

#[test]
fn bad_input_mapping() {
    in_process("mapping", mapping_cases, 11 * MAPPED);
}

#[test]
fn bad_input_region_info() {
    in_process("region-info", region_info_cases, 7);
}

#[test]
fn bad_input_sysfs() {
    in_process("sysfs", sysfs_cases, 11);
}

#[test]
fn bad_input_registration() {
    in_process("register", registration_cases, 4 * DRIVERS);
}

/// Every in-process group together: their names are distinct across groups
/// too (each is prefixed with its group), and the total prints.
#[test]
fn bad_input_in_process_total() {
    let mut m = Matrix::default();
    for run in [
        address_cases,
        bar_index_cases,
        eal_argument_cases,
        region_io_cases,
        mapping_cases,
        region_info_cases,
        sysfs_cases,
        registration_cases,
    ] {
        run(&mut m);
    }
    check_group("in-process total", &m.cases, 77 + 11 * MAPPED);
}

#[test]
fn bad_input_eal_init() {
    let mut all = Vec::new();
    for child in [
        "child_eal_bad_option",
        "child_eal_bad_iova_mode",
        "child_eal_bad_lcores",
        "child_eal_bad_proc_type",
        "child_eal_bad_socket_limit",
    ] {
        all.extend(child_cases(child, &[]));
    }
    check_group("eal-init children", &all, 6);
}

#[test]
fn bad_input_running_eal() {
    let tree = running_tree();
    let cases = child_cases(
        "child_eal_running",
        &[("SYSFS_PCI_DEVICES", tree.devices_dir().to_str().unwrap())],
    );
    check_group("running-eal child", &cases, 20);
}

#[test]
fn bad_input_bus_scan_failure() {
    let scan_tree = scan_failure_tree();
    let cases = child_cases(
        "child_probe_bus_scan_failure",
        &[(
            "SYSFS_PCI_DEVICES",
            scan_tree.devices_dir().to_str().unwrap(),
        )],
    );
    check_group("bus-scan-failure child", &cases, 1);
}

// ---------------------------------------------------------------- EAL children: bad arguments

/// One rejected start: `InvalidArguments` naming the option, then refusal of any retry.
fn bad_arguments(child: &str, builder: EalBuilder, option: &str) {
    let mut m = Matrix::default();
    let group = "eal-init";
    contains!(
        m,
        group,
        child,
        builder.init(),
        EalError::InvalidArguments { ref args, .. } if args.contains(option),
        ["invalid EAL arguments (dpdk-rs-test ", option, "): "]
    );
    if child == "child_eal_bad_option" && common::eal_parses_with_argparse() {
        // Refused before rte_eal_init (DPDK would have exited): a retry starts.
        let retry = base_builder().no_pci().init();
        assert!(retry.is_ok(), "case retry-after-refusal: {:?}", retry.err());
        m.record(group, "retry-after-refusal");
    } else if child == "child_eal_bad_option" {
        exact!(
            m,
            group,
            "retry-after-failure",
            base_builder().no_pci().init(),
            EalError::PreviousInitFailed,
            "an earlier rte_eal_init failed in this process, and DPDK keeps state from it: \
             start a new process to try again"
        );
    }
}

#[test]
#[ignore = "child process of a bad_input_* test"]
fn child_eal_bad_option() {
    if is_child("child_eal_bad_option") {
        let b = base_builder().no_pci().arg("--no-such-option");
        bad_arguments("child_eal_bad_option", b, "--no-such-option");
    }
}

#[test]
#[ignore = "child process of a bad_input_* test"]
fn child_eal_bad_iova_mode() {
    if is_child("child_eal_bad_iova_mode") {
        let b = base_builder().no_pci().arg("--iova-mode").arg("sideways");
        bad_arguments("child_eal_bad_iova_mode", b, "sideways");
    }
}

#[test]
#[ignore = "child process of a bad_input_* test"]
fn child_eal_bad_lcores() {
    if is_child("child_eal_bad_lcores") {
        let b = EalBuilder::new()
            .program_name("dpdk-rs-test")
            .arg("-l")
            .arg("zero")
            .no_huge(64 << 20)
            .no_shconf()
            .no_pci();
        bad_arguments("child_eal_bad_lcores", b, "zero");
    }
}

#[test]
#[ignore = "child process of a bad_input_* test"]
fn child_eal_bad_socket_limit() {
    if is_child("child_eal_bad_socket_limit") {
        let b = base_builder().no_pci().arg("--socket-limit").arg("512,abc");
        bad_arguments("child_eal_bad_socket_limit", b, "512,abc");
    }
}

#[test]
#[ignore = "child process of a bad_input_* test"]
fn child_eal_bad_proc_type() {
    if is_child("child_eal_bad_proc_type") {
        let b = base_builder().no_pci().arg("--proc-type").arg("neither");
        bad_arguments("child_eal_bad_proc_type", b, "neither");
    }
}

// ---------------------------------------------------------------- EAL child: a running EAL

fn running_tree() -> FakePciTree {
    let tree = FakePciTree::new().unwrap();
    let dev = |a: &str| FakeDevice::new(addr(a)).bar(BarIndex::BAR0, 0x1000, 0x1000, FLAGS_MEM32);
    // Bound to vfio-pci with a group no machine has: /dev/vfio/4242 cannot exist.
    tree.add(&dev("0000:00:03.0").iommu_group(Some(4242)))
        .unwrap();
    tree.add(&dev("0000:00:04.0").driver(Some("uio_pci_generic")))
        .unwrap();
    tree.add(&dev("0000:00:05.0").iommu_group(None)).unwrap();
    tree.add(&dev("0000:00:06.0").driver(None)).unwrap();
    // An IOMMU group link whose name is not a number.
    let bad_group = tree.add(&dev("0000:00:08.0")).unwrap();
    let target = tree.devices_dir().join("../iommu_groups/abc");
    std::fs::create_dir_all(&target).unwrap();
    std::os::unix::fs::symlink(&target, bad_group.join("iommu_group")).unwrap();
    // A class wider than 24 bits: DPDK masks it, this crate refuses it.
    tree.add(&dev("0000:00:09.0")).unwrap();
    tree.write_attr(addr("0000:00:09.0"), "class", "0x1000000\n")
        .unwrap();
    // No DPDK driver matches 1234:0001.
    tree.add(&dev("0000:00:0a.0")).unwrap();
    // Taken by the matrix's own driver (1234:cf01). (A device on uio would need
    // IOVA mode PA, which this EAL is not in.)
    tree.add(&dev("0000:00:0b.0").ids(0x1234, 0xcf01)).unwrap();
    // Refused by drivers (1234:cf02 with EBUSY, 1234:cf04 with -1).
    tree.add(&dev("0000:00:0d.0").ids(0x1234, 0xcf02)).unwrap();
    tree.add(&dev("0000:00:0e.0").ids(0x1234, 0xcf04)).unwrap();
    tree
}

#[test]
#[ignore = "child process of a bad_input_* test"]
fn child_eal_running() {
    if !is_child("child_eal_running") {
        return;
    }
    let mut m = Matrix::default();
    let root = dpdk_safe::sysfs_pci_root();
    #[cfg(dpdk_pci_driver)]
    let prober = probe_driver::register_before_init();
    let mut eal = base_builder().init().expect("EAL over the fake tree");

    const E: &str = "eal";
    exact!(
        m,
        E,
        "init-while-running",
        base_builder().no_pci().init(),
        EalError::AlreadyRunning,
        "the EAL is already running in this process"
    );

    const V: &str = "vfio-open";
    exact!(
        m,
        V,
        "bound-to-uio",
        eal.vfio_open(addr("0000:00:04.0")),
        OpenError::NotBoundToVfio { .. },
        "PCI device 0000:00:04.0 is bound to uio_pci_generic, not vfio-pci; bind it with \
         `dpdk-devbind.py -b vfio-pci 0000:00:04.0` or through /sys/bus/pci/drivers/vfio-pci/new_id"
    );
    exact!(
        m,
        V,
        "bound-to-no-driver",
        eal.vfio_open(addr("0000:00:06.0")),
        OpenError::NotBoundToVfio { driver: None, .. },
        "PCI device 0000:00:06.0 is not bound to any kernel driver, and VFIO needs vfio-pci; \
         bind it with `dpdk-devbind.py -b vfio-pci 0000:00:06.0` or through \
         /sys/bus/pci/drivers/vfio-pci/new_id"
    );
    exact!(
        m,
        V,
        "no-iommu-group",
        eal.vfio_open(addr("0000:00:05.0")),
        OpenError::NoIommuGroup(_),
        "PCI device 0000:00:05.0 has no IOMMU group; VFIO needs an IOMMU (enable it in \
         firmware and with intel_iommu=on or amd_iommu=on)"
    );
    exact!(
        m,
        V,
        "no-such-device",
        eal.vfio_open(addr("0000:00:1f.7")),
        OpenError::NoSuchDevice(..),
        format!("no PCI device 0000:00:1f.7 in {}", root.display())
    );
    exact!(
        m,
        V,
        "no-vfio-group-node",
        eal.vfio_open(addr("0000:00:03.0")),
        OpenError::VfioUnavailable,
        "VFIO is not available: load the vfio-pci module (`modprobe vfio-pci`) and check \
         that /dev/vfio/vfio exists"
    );
    exact!(
        m,
        V,
        "iommu-group-not-a-number",
        eal.vfio_open(addr("0000:00:08.0")),
        OpenError::Sysfs(SysfsError {
            kind: SysfsErrorKind::NotDecimal { .. },
            ..
        }),
        format!(
            "{}/0000:00:08.0/iommu_group: expected a decimal number, found \"abc\"",
            root.display()
        )
    );

    const D: &str = "bus";
    exact!(
        m,
        D,
        "device-not-on-bus",
        eal.pci_device(addr("0000:00:1f.7")),
        DeviceError::NoSuchDevice(_),
        "no PCI device 0000:00:1f.7 on DPDK's bus (not scanned, not allowlisted, or no kernel driver)"
    );
    exact!(
        m,
        D,
        "device-without-driver-is-not-scanned",
        eal.pci_device(addr("0000:00:06.0")),
        DeviceError::NoSuchDevice(_),
        "no PCI device 0000:00:06.0 on DPDK's bus (not scanned, not allowlisted, or no kernel driver)"
    );
    exact!(
        m,
        D,
        "class-wider-than-24-bits",
        eal.pci_device(addr("0000:00:09.0")),
        DeviceError::Sysfs(SysfsError {
            kind: SysfsErrorKind::OutOfRange { .. },
            ..
        }),
        format!(
            "{}/0000:00:09.0/class: value 0x1000000 exceeds 0xffffff",
            root.display()
        )
    );
    exact!(
        m,
        D,
        "probe-absent-device",
        eal.probe(addr("0000:00:1f.7")),
        DeviceError::NoSuchDevice(_),
        "no PCI device 0000:00:1f.7 on DPDK's bus (not scanned, not allowlisted, or no kernel driver)"
    );
    exact!(
        m,
        D,
        "probe-without-matching-driver",
        eal.probe(addr("0000:00:0a.0")),
        DeviceError::NoDriver(_),
        "no DPDK driver matches PCI device 0000:00:0a.0"
    );
    exact!(
        m,
        D,
        "remove-unprobed-device",
        eal.remove(addr("0000:00:0a.0")),
        DeviceError::NotProbed(_),
        "PCI device 0000:00:0a.0 has no DPDK driver attached, so there is nothing to remove"
    );
    exact!(
        m,
        D,
        "remove-absent-device",
        eal.remove(addr("0000:00:1f.7")),
        DeviceError::NoSuchDevice(_),
        "no PCI device 0000:00:1f.7 on DPDK's bus (not scanned, not allowlisted, or no kernel driver)"
    );

    #[cfg(dpdk_pci_driver)]
    probe_driver::cases(&mut m, &mut eal, prober);

    eal.cleanup().expect("cleanup");
    exact!(
        m,
        E,
        "init-after-cleanup",
        base_builder().no_pci().init(),
        EalError::CleanedUp,
        "the EAL was cleaned up; DPDK cannot start it again in this process"
    );
    #[cfg(dpdk_pci_driver)]
    {
        use dpdk_safe::{register, DriverFlags, PciIdPattern, RegisterError};
        exact!(
            m,
            "register",
            "register-after-cleanup",
            register(
                "rs_matrix_after",
                &[PciIdPattern::new(0x1234, 5)],
                DriverFlags::empty(),
                drivers::Nop
            ),
            RegisterError::BusAlreadyProbed(_),
            "driver \"rs_matrix_after\": the EAL has started and its bus probe is over; \
             register before EalBuilder::init, or use Eal::register_driver and then Eal::probe"
        );
    }
}

/// The matrix's own PCI driver: its probe callback tries bad config-space and
/// BAR accesses on the device DPDK hands it and records what came back.
#[cfg(dpdk_pci_driver)]
mod probe_driver {
    use std::sync::Mutex;

    use dpdk_safe::DeviceError;
    use dpdk_safe::DpdkBarError;
    use dpdk_safe::Eal;
    use dpdk_safe::{
        register, DriverFlags, PciDriver, PciIdPattern, ProbeFailure, ProbedDevice, RegisterError,
        Registered,
    };
    use dpdk_safe::{AccessError, BadBarIndex, BarIndex, ConfigRegisters};

    use super::{addr, drivers::Nop, Matrix};

    /// (case, variant as expected, message) per bad access, per device.
    type Outcomes = Vec<(String, bool, String)>;

    #[derive(Default)]
    pub struct Prober {
        outcomes: Mutex<Outcomes>,
    }

    impl PciDriver for Prober {
        type Device = ();
        fn probe(&self, device: &ProbedDevice<'_>) -> Result<(), ProbeFailure> {
            let mut out = Vec::new();
            let at = device.address();
            let config = device.config();
            // Variants are checked here, where the error is made; messages outside.
            let r = config.read32(4096);
            let ok = matches!(r, Err(AccessError::OutOfBounds { .. }));
            out.push((format!("config-read32-at-4096 {at}"), ok, msg(&r)));
            let r = config.read32(4094);
            let ok = matches!(r, Err(AccessError::OutOfBounds { .. }));
            out.push((format!("config-read32-straddles-end {at}"), ok, msg(&r)));
            let r = config.write16(u64::MAX, 0);
            let ok = matches!(r, Err(AccessError::OutOfBounds { .. }));
            out.push((format!("config-write16-at-u64-max {at}"), ok, msg(&r)));
            let r = config.read32(2);
            let ok = matches!(r, Err(AccessError::Unaligned { .. }));
            out.push((format!("config-read32-unaligned {at}"), ok, msg(&r)));
            // In bounds and aligned, but DPDK opened no device file: its config
            // calls would read stdin.
            let r = config.read32(0);
            let ok = matches!(r, Err(AccessError::Io { .. }));
            out.push((
                format!("config-read32-without-device-file {at}"),
                ok,
                msg(&r),
            ));
            // BarIndex is checked where it is made: no call takes BAR 6.
            let r = BarIndex::new(6).map(|_| ());
            let ok = matches!(r, Err(BadBarIndex(6)));
            out.push((format!("bar-registers-index-6 {at}"), ok, msg(&r)));
            let r = device.bar_registers(BarIndex::BAR1).map(|_| ());
            let ok = matches!(
                r,
                Err(DpdkBarError::Empty {
                    index: BarIndex::BAR1,
                    ..
                })
            );
            out.push((format!("bar-registers-empty-bar1 {at}"), ok, msg(&r)));
            // Registered without NEED_MAPPING: DPDK opened no device file, so
            // there is nothing to reach BAR 0 through (on 22.11 and 24.11 alike).
            let r = device.bar_registers(BarIndex::BAR0).map(|_| ());
            let ok = matches!(r, Err(DpdkBarError::NoDeviceFile { .. }));
            out.push((format!("bar-registers-not-opened-bar0 {at}"), ok, msg(&r)));
            self.outcomes.lock().unwrap().extend(out);
            Ok(())
        }

        fn remove(&self, _device: &ProbedDevice<'_>, _state: ()) {}
    }

    fn msg<T, E: std::fmt::Display>(r: &Result<T, E>) -> String {
        match r {
            Ok(_) => "accepted".to_owned(),
            Err(e) => e.to_string(),
        }
    }

    pub fn register_before_init() -> Registered<Prober> {
        register(
            "rs_matrix",
            &[PciIdPattern::new(0x1234, 0xcf01)],
            DriverFlags::empty(),
            Prober::default(),
        )
        .unwrap()
    }

    /// Refuses every device with this errno.
    struct Refuser(i32);

    impl PciDriver for Refuser {
        type Device = ();
        fn probe(&self, _device: &ProbedDevice<'_>) -> Result<(), ProbeFailure> {
            Err(ProbeFailure::new(self.0, "refused by the matrix"))
        }
        fn remove(&self, _device: &ProbedDevice<'_>, _state: ()) {}
    }

    pub fn cases(m: &mut Matrix, eal: &mut Eal, prober: Registered<Prober>) {
        assert_eq!(prober.bound_devices(), 1, "the cf01 device was probed");
        let expected: &[(&str, &str)] = &[
            (
                "config-read32-at-4096",
                "config space: 4-byte access at 0x1000 is past the end (size 0x1000)",
            ),
            (
                "config-read32-straddles-end",
                "config space: 4-byte access at 0xffe is past the end (size 0x1000)",
            ),
            (
                "config-write16-at-u64-max",
                "config space: 2-byte access at 0xffffffffffffffff is past the end (size 0x1000)",
            ),
            (
                "config-read32-unaligned",
                "config space: 4-byte access at 0x2 is not 4-byte aligned",
            ),
            (
                "config-read32-without-device-file",
                "config space: read at 0x0 failed: DPDK opened no device file for it: register \
                 the driver with DriverFlags::NEED_MAPPING to reach config space through DPDK",
            ),
            (
                "bar-registers-index-6",
                "BAR 6 does not exist: PCI devices have BARs 0 to 5",
            ),
        ];
        let outcomes = prober.driver().outcomes.lock().unwrap().clone();
        for (name, ok, text) in &outcomes {
            let (case, at) = name.split_once(' ').unwrap();
            assert!(*ok, "case {case} on {at}: wrong variant: {text}");
            let want = match case {
                "bar-registers-empty-bar1" => format!("{at}: BAR1 is not implemented (size 0)"),
                "bar-registers-not-opened-bar0" => format!(
                    "{at}: DPDK holds no device file for it: DPDK opens one only for drivers \
                     registered with DriverFlags::NEED_MAPPING"
                ),
                _ => expected
                    .iter()
                    .find(|(c, _)| *c == case)
                    .map(|(_, t)| t.to_string())
                    .unwrap_or_else(|| panic!("no expected message for {case}")),
            };
            assert_eq!(*text, want, "case {case} on {at}");
            m.record("probed-device", case);
        }

        const G: &str = "register";
        exact!(
            m,
            G,
            "already-registered",
            eal.register_driver(
                "rs_matrix",
                &[PciIdPattern::new(0x1234, 0xcf01)],
                DriverFlags::empty(),
                Nop
            ),
            RegisterError::AlreadyRegistered(_),
            "a driver named \"rs_matrix\" is already registered"
        );
        exact!(
            m,
            G,
            "register-after-start",
            register(
                "rs_matrix_late",
                &[PciIdPattern::new(0x1234, 0xcf02)],
                DriverFlags::empty(),
                Nop
            ),
            RegisterError::BusAlreadyProbed(_),
            "driver \"rs_matrix_late\": the EAL has started and its bus probe is over; \
             register before EalBuilder::init, or use Eal::register_driver and then Eal::probe"
        );
        exact!(
            m,
            G,
            "hot-plug-empty-name",
            eal.register_driver(
                "",
                &[PciIdPattern::new(0x1234, 7)],
                DriverFlags::empty(),
                Nop
            ),
            RegisterError::BadName(_),
            "driver name \"\" is empty or contains a NUL byte"
        );

        const D: &str = "bus";
        exact!(
            m,
            D,
            "probe-already-probed",
            eal.probe(addr("0000:00:0b.0")),
            DeviceError::AlreadyProbed(_),
            "PCI device 0000:00:0b.0 is already probed"
        );
        let refuser = eal
            .register_driver(
                "rs_matrix_refuser",
                &[PciIdPattern::new(0x1234, 0xcf02)],
                DriverFlags::empty(),
                Refuser(libc::EBUSY),
            )
            .unwrap();
        exact!(
            m,
            D,
            "probe-refused-by-driver",
            eal.probe(addr("0000:00:0d.0")),
            DeviceError::Failed {
                op: "probe",
                ref errno,
                ..
            } if errno.code() == libc::EBUSY,
            "probe of PCI device 0000:00:0d.0 failed: Device or resource busy (errno 16)"
        );
        // DPDK's drivers often fail with a bare -1, which is no errno.
        let minus_one = eal
            .register_driver(
                "rs_matrix_minus_one",
                &[PciIdPattern::new(0x1234, 0xcf04)],
                DriverFlags::empty(),
                Refuser(1),
            )
            .unwrap();
        exact!(
            m,
            D,
            "probe-refused-with-minus-one",
            eal.probe(addr("0000:00:0e.0")),
            DeviceError::FailedWithoutErrno { op: "probe", .. },
            "probe of PCI device 0000:00:0e.0 failed: DPDK returned -1 without an error code \
             (a driver's callback failed; DPDK's log says which and why)"
        );
        drop(minus_one);
        drop(refuser);
        // The name is free again once the registration is gone.
        let again = eal
            .register_driver(
                "rs_matrix_refuser",
                &[PciIdPattern::new(0x1234, 0xcf02)],
                DriverFlags::empty(),
                Nop,
            )
            .unwrap();
        drop(again);
        // Dropped while bound: retired, freed by cleanup's sweep.
        drop(prober);
    }
}

// ---------------------------------------------------------------- EAL child: bus scan failure

/// A good device and, beside it, one whose `vendor` file DPDK cannot parse.
fn scan_failure_tree() -> FakePciTree {
    let tree = FakePciTree::new().unwrap();
    let good = FakeDevice::new(addr("0000:00:03.0"))
        .ids(0x1234, 0xcf03)
        .bar(BarIndex::BAR0, 0x1000, 0x1000, FLAGS_MEM32);
    tree.add(&good).unwrap();
    tree.add(&FakeDevice::new(addr("0000:00:04.0")).bar(
        BarIndex::BAR0,
        0x2000,
        0x1000,
        FLAGS_MEM32,
    ))
    .unwrap();
    tree.write_attr(addr("0000:00:04.0"), "vendor", "garbage\n")
        .unwrap();
    tree
}

#[test]
#[ignore = "child process of a bad_input_* test"]
fn child_probe_bus_scan_failure() {
    if !is_child("child_probe_bus_scan_failure") {
        return;
    }
    let mut m = Matrix::default();
    let root = dpdk_safe::sysfs_pci_root();
    // The start-up scan logs the bad directory and goes on.
    let mut eal = base_builder()
        .init()
        .expect("EAL over a tree with a bad device");
    #[cfg(dpdk_pci_driver)]
    let _driver = eal
        .register_driver(
            "rs_matrix_scan",
            &[dpdk_safe::PciIdPattern::new(0x1234, 0xcf03)],
            dpdk_safe::DriverFlags::empty(),
            drivers::Nop,
        )
        .unwrap();
    exact!(
        m,
        "bus",
        "probe-while-another-device-is-malformed",
        eal.probe(addr("0000:00:03.0")),
        DeviceError::BusScanFailed { ref culprit, .. }
            if culprit.path() == Path::new(&format!("{}/0000:00:04.0/vendor", root.display())),
        format!(
            "probe of PCI device 0000:00:03.0 failed: DPDK rescans the whole PCI bus first and \
             gave up at a device directory it cannot parse ({}/0000:00:04.0/vendor: expected a \
             0x-prefixed 16-bit hex value, found \"garbage\"); fix or remove that directory, or \
             start the EAL with an allowlist (EalBuilder::allow), which makes DPDK skip every \
             other device",
            root.display()
        )
    );
}
